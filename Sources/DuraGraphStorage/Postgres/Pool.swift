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

    private let cond = Condition()
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
    }

    /// Connections in use and idle, for metrics.
    public var stats: (inUse: Int, idle: Int) {
        cond.lock(); defer { cond.unlock() }
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
        let deadline = Condition.deadline(after: Self.checkoutTimeout)
        cond.lock()
        while true {
            if let conn = idle.popLast() {
                cond.unlock()
                return conn
            }
            if open < size { break }
            if !cond.wait(until: deadline) {
                cond.unlock()
                throw PGError(kind: .unavailable, sqlState: nil, message: "no database connection free within \(Int(Self.checkoutTimeout))s")
            }
        }
        if Clock.monotonic() < retryAt, let e = lastError {
            cond.unlock()
            throw e
        }
        open += 1
        cond.unlock()
        do {
            let conn = try PGConnection(url: url, applicationName: applicationName)
            cond.lock(); backoff.reset(); lastError = nil; cond.unlock()
            return conn
        } catch {
            cond.lock()
            open -= 1
            lastError = error
            retryAt = Clock.monotonic() + backoff.next()
            cond.signal()
            cond.unlock()
            throw error
        }
    }

    private func checkin(_ conn: PGConnection) {
        cond.lock()
        if conn.isHealthy { idle.append(conn) } else { open -= 1 }
        cond.signal()
        cond.unlock()
    }
}
