import CLibPQ
import DuraGraphCore
import Glibc

/// A database error. `description` never includes SQL text or parameters (they may hold user data
/// or secrets); the SQLSTATE tells callers what happened.
public struct PGError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The server cannot be reached or the connection broke: retry later / 503.
        case unavailable
        /// The statement ran past its timeout and was cancelled.
        case timeout
        /// The server rejected the statement.
        case query
    }
    public let kind: Kind
    public let sqlState: String?
    public let message: String
    public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }

    public static let uniqueViolation = "23505"
    public static let foreignKeyViolation = "23503"
    public static let serializationFailure = "40001"
}

/// Rows of a result as text, with column names.
public struct PGResult: Sendable {
    public let columns: [String]
    public let rows: [[String?]]
    public let affected: Int

    public var first: PGRow? { rows.isEmpty ? nil : PGRow(result: self, index: 0) }
    public var all: [PGRow] { rows.indices.map { PGRow(result: self, index: $0) } }
}

public struct PGRow: Sendable {
    let result: PGResult
    let index: Int
    public subscript(_ column: String) -> String? {
        guard let i = result.columns.firstIndex(of: column) else { return nil }
        return result.rows[index][i]
    }
    public subscript(_ i: Int) -> String? { result.rows[index][i] }
    public func int(_ c: String) -> Int64? { self[c].flatMap { Int64($0) } }
    public func bool(_ c: String) -> Bool? { self[c].map { $0 == "t" } }
    public func json(_ c: String) -> JSON? { self[c].flatMap { try? JSON.parse($0) } }
}

/// One libpq connection. Used by one thread at a time (the pool hands it out); statements run in
/// libpq's asynchronous mode so that every one of them has a timeout, even when the server hangs.
public final class PGConnection: @unchecked Sendable {
    let conn: OpaquePointer

    /// `url` is a postgresql:// URI or a key=value conninfo string.
    public init(url: String, applicationName: String, connectTimeout: Int = 5) throws(PGError) {
        // expand_dbname: the URL's own settings override the defaults listed before it.
        // Both arrays end with NULL, as PQconnectdbParams requires.
        let keys: [String?] = ["connect_timeout", "application_name", "dbname", nil]
        let vals: [String?] = [String(connectTimeout), applicationName, url, nil]
        let c: OpaquePointer? = withCStringArray(keys) { k in withCStringArray(vals) { v in PQconnectdbParams(k, v, 1) } }
        guard let c else { throw PGError(kind: .unavailable, sqlState: nil, message: "out of memory") }
        if PQstatus(c) != CONNECTION_OK {
            let msg = String(cString: PQerrorMessage(c)).trimmingSpaces().replacingNewlines()
            PQfinish(c)
            throw PGError(kind: .unavailable, sqlState: nil, message: "cannot connect to PostgreSQL: \(msg)")
        }
        conn = c
        // NOTICEs would otherwise be printed on stderr by libpq.
        PQsetNoticeProcessor(c, { _, _ in }, nil)
    }

    deinit { PQfinish(conn) }

    public var isHealthy: Bool { !broken && PQstatus(conn) == CONNECTION_OK }
    /// Left in an unknown protocol state (a pipeline that timed out): never reused.
    private var broken = false
    public var socket: Int32 { PQsocket(conn) }
    public var backendPID: Int32 { PQbackendPID(conn) }

    /// Statements prepared on this connection, by text. PostgreSQL then parses and plans each
    /// statement once per connection instead of on every call (the scheduler's claim and finish
    /// statements are planned thousands of times a second otherwise).
    private var prepared: [String: String] = [:]
    /// Names are never reused: a prepare that timed out may still exist on the server.
    private var preparedSerial = 0
    /// A bound on the cache; statements past it run unprepared.
    static let maxPrepared = 512

    /// Runs one parameterized statement. Parameters are text; nil is SQL NULL.
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = [], timeout: Double = 10) throws(PGError) -> PGResult {
        if params.isEmpty {   // BEGIN, COMMIT and the like: nothing to gain from preparing
            guard PQsendQueryParams(conn, sql, 0, nil, nil, nil, nil, 0) == 1 else { throw failure() }
            return try collect(timeout: timeout)
        }
        var name = prepared[sql]
        if name == nil && prepared.count < Self.maxPrepared {
            let n = try sendPrepare(sql, parameters: params.count)
            _ = try collect(timeout: timeout)
            prepared[sql] = n
            name = n
        }
        try send(sql, prepared: name, params)
        do {
            return try collect(timeout: timeout)
        } catch {
            // A table changed under a cached plan (a migration): prepare afresh next time.
            if error.sqlState == "0A000" { prepared[sql] = nil }
            throw error
        }
    }

    /// Runs `statements` in one round trip (libpq pipeline mode) and in one implicit
    /// transaction: the first failing statement rolls all of them back and the rest are skipped.
    /// Each statement still takes its own snapshot (READ COMMITTED), so a row lock taken by one
    /// statement is in force when the next one reads. Results come back in order.
    public func pipeline(_ statements: [(sql: String, params: [String?])], timeout: Double = 10) throws(PGError) -> [PGResult] {
        guard PQenterPipelineMode(conn) == 1 else { throw failure() }
        defer { _ = PQexitPipelineMode(conn) }
        // Per command sent, in order: its statement text, and whether it prepares it or runs it.
        var commands: [(sql: String, prepare: Bool)] = []
        var preparing: [String: String] = [:]
        for (sql, params) in statements {
            var name = prepared[sql] ?? preparing[sql]
            if name == nil && prepared.count + preparing.count < Self.maxPrepared {
                let n = try sendPrepare(sql, parameters: params.count)
                commands.append((sql, true))
                preparing[sql] = n
                name = n
            }
            try send(sql, prepared: name, params)
            commands.append((sql, false))
        }
        guard PQpipelineSync(conn) == 1 else { throw failure() }

        let deadline = Clock.monotonic() + timeout
        var results: [PGResult] = []
        var error: PGError?
        var index = 0
        while true {
            while PQisBusy(conn) == 1 {
                let remaining = deadline - Clock.monotonic()
                if remaining <= 0 {
                    cancel()
                    // Results of the cancelled pipeline are still due: the pool drops the connection.
                    broken = true
                    throw PGError(kind: .timeout, sqlState: "57014", message: "statement timed out after \(timeout)s")
                }
                var pfd = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
                let n = poll(&pfd, 1, Int32(min(remaining * 1000, 1000) + 1))
                if n < 0 && errno != EINTR { throw failure() }
                if PQconsumeInput(conn) == 0 { throw failure() }
            }
            guard let res = PQgetResult(conn) else {
                if !isHealthy { throw failure() }
                continue   // the end of one command's results
            }
            defer { PQclear(res) }
            let st = PQresultStatus(res)
            if st == PGRES_PIPELINE_SYNC { break }
            let command = index < commands.count ? commands[index] : nil
            index += 1
            switch st {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
                if let command, command.prepare { prepared[command.sql] = preparing[command.sql] } else { results.append(Self.convert(res)) }
            case PGRES_PIPELINE_ABORTED:
                break
            default:
                guard error == nil else { break }
                error = resultError(res)
                // A table changed under a cached plan (a migration): prepare afresh next time.
                if error?.sqlState == "0A000", let command { prepared[command.sql] = nil }
            }
        }
        if let error { throw error }
        return results
    }

    /// Sends the preparation of `sql` under a new name (never reused: a prepare that timed out
    /// may still exist on the server); returns the name.
    private func sendPrepare(_ sql: String, parameters: Int) throws(PGError) -> String {
        preparedSerial += 1
        let name = "dg\(preparedSerial)"
        guard PQsendPrepare(conn, name, sql, Int32(parameters), nil) == 1 else { throw failure() }
        return name
    }

    /// Sends one execution: of the prepared statement `name`, or of `sql` unprepared.
    private func send(_ sql: String, prepared name: String?, _ params: [String?]) throws(PGError) {
        let sent = withCStringArray(params) { p in
            if let name { PQsendQueryPrepared(conn, name, Int32(params.count), p, nil, nil, 0) }
            else { PQsendQueryParams(conn, sql, Int32(params.count), nil, p, nil, nil, 0) }
        }
        guard sent == 1 else { throw failure() }
    }

    /// Runs statements without parameters (migrations, LISTEN). Several statements are allowed.
    @discardableResult
    public func execute(_ sql: String, timeout: Double = 60) throws(PGError) -> PGResult {
        guard PQsendQuery(conn, sql) == 1 else { throw failure() }
        return try collect(timeout: timeout)
    }

    /// BEGIN; body; COMMIT. Rolls back on any error the body throws.
    @discardableResult
    public func transaction<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try query("BEGIN")
        do {
            let v = try body(self)
            try query("COMMIT")
            return v
        } catch {
            if isHealthy { _ = try? query("ROLLBACK") }
            throw error
        }
    }

    private func failure() -> PGError {
        let msg = String(cString: PQerrorMessage(conn)).trimmingSpaces().replacingNewlines()
        return PGError(kind: isHealthy ? .query : .unavailable, sqlState: nil, message: msg)
    }

    private func collect(timeout: Double) throws(PGError) -> PGResult {
        let deadline = Clock.monotonic() + timeout
        var last: PGResult?
        var error: PGError?
        while true {
            while PQisBusy(conn) == 1 {
                let remaining = deadline - Clock.monotonic()
                if remaining <= 0 {
                    cancel()
                    // Drain so the connection can be reused, then report the timeout.
                    while let r = PQgetResult(conn) { PQclear(r) }
                    throw PGError(kind: .timeout, sqlState: "57014", message: "statement timed out after \(timeout)s")
                }
                var pfd = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
                let n = poll(&pfd, 1, Int32(min(remaining * 1000, 1000) + 1))
                if n < 0 && errno != EINTR { throw failure() }
                if PQconsumeInput(conn) == 0 { throw failure() }
            }
            guard let res = PQgetResult(conn) else { break }
            defer { PQclear(res) }
            let st = PQresultStatus(res)
            switch st {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
                last = Self.convert(res)
            default:
                if error == nil { error = resultError(res) }
            }
        }
        if let error { throw error }
        if !isHealthy { throw failure() }
        return last ?? PGResult(columns: [], rows: [], affected: 0)
    }

    private func resultError(_ res: OpaquePointer) -> PGError {
        let state = PQresultErrorField(res, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let msg = PQresultErrorField(res, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            ?? String(cString: PQresultErrorMessage(res))
        let kind: PGError.Kind = !isHealthy || state?.hasPrefix("08") == true || state == "57P01" ? .unavailable : .query
        return PGError(kind: kind, sqlState: state, message: msg)
    }

    private func cancel() {
        guard let c = PQgetCancel(conn) else { return }
        var buf = [CChar](repeating: 0, count: 256)
        _ = PQcancel(c, &buf, 256)
        PQfreeCancel(c)
    }

    static func convert(_ res: OpaquePointer) -> PGResult {
        let nr = PQntuples(res), nf = PQnfields(res)
        var cols: [String] = []
        for f in 0..<nf { cols.append(String(cString: PQfname(res, f))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(nr))
        for r in 0..<nr {
            var row: [String?] = []
            row.reserveCapacity(Int(nf))
            for f in 0..<nf {
                row.append(PQgetisnull(res, r, f) != 0 ? nil : String(cString: PQgetvalue(res, r, f)))
            }
            rows.append(row)
        }
        let affected = Int(String(cString: PQcmdTuples(res))) ?? 0
        return PGResult(columns: cols, rows: rows, affected: affected)
    }

    // MARK: LISTEN / NOTIFY

    public func listen(_ channel: String) throws(PGError) {
        guard let q = PQescapeIdentifier(conn, channel, channel.utf8.count) else { throw failure() }
        defer { PQfreemem(q) }
        try execute("LISTEN \(String(cString: q))", timeout: 10)
    }

    /// Waits up to `timeout` for notifications; [] on timeout.
    public func waitForNotifications(timeout: Double) throws(PGError) -> [(channel: String, payload: String)] {
        var out = drain()
        if !out.isEmpty { return out }
        var pfd = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        let n = poll(&pfd, 1, Int32(timeout * 1000))
        if n < 0 && errno != EINTR { throw failure() }
        if n > 0 {
            if PQconsumeInput(conn) == 0 { throw failure() }
        } else if PQstatus(conn) != CONNECTION_OK {
            throw failure()
        }
        out = drain()
        return out
    }

    private func drain() -> [(channel: String, payload: String)] {
        var out: [(String, String)] = []
        while let n = PQnotifies(conn) {
            out.append((String(cString: n.pointee.relname), String(cString: n.pointee.extra)))
            PQfreemem(n)
        }
        return out
    }
}

/// `const char * const *` for libpq, valid during `body`.
func withCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let dup: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
    defer { dup.forEach { free($0) } }
    let c: [UnsafePointer<CChar>?] = dup.map { $0.map { UnsafePointer($0) } }
    return c.withUnsafeBufferPointer { body($0.baseAddress) }
}

extension String {
    func replacingNewlines() -> String { String(map { $0 == "\n" ? " " : $0 }) }
}

extension PGError: DatabaseUnavailable {
    public var isUnavailable: Bool { kind != .query }
}
