import DuraGraphCore

/// The database-derived gauges of the metrics role.
public struct MetricsSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    public struct Gauges: Sendable {
        public var runsByStatus: [String: Double]
        public var oldestQueuedSeconds: Double
        public var webhookBacklog: Double
        public var webhookOldestDueSeconds: Double
    }

    public func gauges() throws -> Gauges {
        var byStatus: [String: Double] = [:]
        for s in RunsSQL.statuses { byStatus[s] = 0 }
        for row in try pool.query("SELECT status, count(*) AS n FROM runs GROUP BY status").all {
            byStatus[row["status"]!] = Double(row.int("n") ?? 0)
        }
        let oldest = try pool.query("""
            SELECT coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8 AS s FROM runs WHERE status = 'queued'
            """).first?["s"].flatMap(Double.init) ?? 0
        let backlog = try WebhooksSQL(pool: pool).backlog()
        return Gauges(runsByStatus: byStatus, oldestQueuedSeconds: oldest, webhookBacklog: Double(backlog.pending),
                      webhookOldestDueSeconds: backlog.oldestDueSeconds)
    }
}
