import DuraGraphCore

/// Applies the versioned, forward-only migrations of `Schema.migrations` exactly once.
/// Every process calls it at start-up; a session advisory lock serialises them, so several
/// processes starting together apply each version once and the others just see it applied.
public enum Migrator {
    /// Arbitrary constant shared by every DuraGraph process: "DGMIGRAT".
    static let lockKey = "4478477773171784020"

    /// Returns the versions this call applied (empty when the schema was current).
    @discardableResult
    public static func migrate(url: String) throws -> [Int] {
        let conn = try PGConnection(url: url, applicationName: "duragraph-migrate")
        try conn.query("SELECT pg_advisory_lock($1::bigint)", [lockKey], timeout: 300)
        defer { _ = try? conn.query("SELECT pg_advisory_unlock($1::bigint)", [lockKey]) }
        try conn.execute(Schema.bookkeeping)
        let done = Set(try conn.query("SELECT version FROM schema_migrations").all.compactMap { $0.int("version") })
        var applied: [Int] = []
        for m in Schema.migrations where !done.contains(Int64(m.version)) {
            try conn.transaction { c in
                try c.execute(m.sql, timeout: 600)
                try c.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [String(m.version), m.name])
            }
            Log.info("migration applied", ["version": .int(Int64(m.version)), "name": .string(m.name)])
            applied.append(m.version)
        }
        return applied
    }

    /// Highest applied version, or 0.
    public static func currentVersion(_ conn: PGConnection) throws -> Int {
        let r = try conn.query("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
        return Int(r.first?.int("v") ?? 0)
    }
}
