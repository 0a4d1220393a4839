import DuraGraphCore
import Glibc
import Synchronization

/// A small connection pool. Connections are made lazily up to `size`; a broken one is dropped and
/// replaced on the next checkout. While PostgreSQL is unreachable, checkouts fail fast (kind
/// .unavailable) and reconnect attempts are spaced by a capped exponential backoff.
public final class PGPool: @unchecked Sendable {
    public let url: String
    public let size: Int
    public let applicationName: String
    public let statementTimeout: Double
    /// A request waits at most this long for a free connection, so a hung database cannot pile up
    /// waiting threads forever.
    static let checkoutTimeout = 5.0

    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let c = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var idle: [PGConnection] = []
    private var open = 0
    private var backoff = Backoff(initial: 0.1, cap: 5)
    private var retryAt = 0.0
    private var lastError: PGError?

    public init(url: String, size: Int, applicationName: String, statementTimeout: Double = 10) {
        self.url = url
        self.size = size
        self.applicationName = applicationName
        self.statementTimeout = statementTimeout
        pthread_mutex_init(m, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(c, &attr)
        pthread_condattr_destroy(&attr)
    }
    deinit { pthread_cond_destroy(c); pthread_mutex_destroy(m); c.deallocate(); m.deallocate() }

    /// Connections in use and idle, for metrics.
    public var stats: (inUse: Int, idle: Int) {
        pthread_mutex_lock(m); defer { pthread_mutex_unlock(m) }
        return (open - idle.count, idle.count)
    }

    public func withConnection<T>(_ body: (PGConnection) throws -> T) throws -> T {
        let conn = try checkout()
        do {
            let v = try body(conn)
            checkin(conn)
            return v
        } catch {
            checkin(conn)
            throw error
        }
    }

    /// Shorthand: one statement on a pooled connection with the pool's statement timeout.
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = []) throws -> PGResult {
        try withConnection { try $0.query(sql, params, timeout: statementTimeout) }
    }

    @discardableResult
    public func transaction<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try withConnection { try $0.transaction(body) }
    }

    private func checkout() throws(PGError) -> PGConnection {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        deadline.tv_sec += Int(Self.checkoutTimeout)
        pthread_mutex_lock(m)
        while true {
            if let conn = idle.popLast() {
                pthread_mutex_unlock(m)
                return conn
            }
            if open < size { break }
            if pthread_cond_timedwait(c, m, &deadline) == ETIMEDOUT {
                pthread_mutex_unlock(m)
                throw PGError(kind: .unavailable, sqlState: nil, message: "no database connection free within \(Int(Self.checkoutTimeout))s")
            }
        }
        if Clock.monotonic() < retryAt, let e = lastError {
            pthread_mutex_unlock(m)
            throw e
        }
        open += 1
        pthread_mutex_unlock(m)
        do {
            let conn = try PGConnection(url: url, applicationName: applicationName)
            pthread_mutex_lock(m); backoff.reset(); lastError = nil; pthread_mutex_unlock(m)
            return conn
        } catch {
            pthread_mutex_lock(m)
            open -= 1
            lastError = error
            retryAt = Clock.monotonic() + backoff.next()
            pthread_cond_signal(c)
            pthread_mutex_unlock(m)
            throw error
        }
    }

    private func checkin(_ conn: PGConnection) {
        pthread_mutex_lock(m)
        if conn.isHealthy { idle.append(conn) } else { open -= 1 }
        pthread_cond_signal(c)
        pthread_mutex_unlock(m)
    }
}
