import DuraGraphCore

/// Every statement on `crons` and `cron_fires`. The fire loop runs in the scheduler: a due cron is
/// locked (SKIP LOCKED), its fire time recorded once in cron_fires, the run created in the same
/// transaction, and the next fire time set; a second scheduler seeing the same cron skips it or
/// finds the fire already recorded.
public struct CronsSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    static let object = """
        jsonb_build_object('cron_id', c.cron_id, 'assistant_id', c.assistant_id, 'thread_id', c.thread_id,
            'schedule', c.schedule, 'timezone', c.timezone, 'payload', c.payload, 'metadata', c.metadata, 'enabled', c.enabled,
            'end_time', duragraph_ts(c.end_time), 'on_run_completed', c.on_run_completed, 'user_id', NULL,
            'next_run_date', duragraph_ts(c.next_run_at), 'created_at', duragraph_ts(c.created_at), 'updated_at', duragraph_ts(c.updated_at))
        """

    /// Wall-clock fields (year month day hour minute) of an instant in a time zone.
    public func wallTime(_ instant: String?, timezone: String) throws -> [Int] {
        let r = try pool.query("""
            SELECT to_char(coalesce($1::timestamptz, clock_timestamp()) AT TIME ZONE $2, 'YYYY MM DD HH24 MI') AS w
            """, [instant, timezone])
        return (r.first?["w"] ?? "").split(separator: " ").compactMap { Int($0) }
    }

    /// The instant of a wall-clock time in a time zone.
    public func instant(_ wall: [Int], timezone: String) throws -> String {
        let text = pad4(wall[0]) + "-\(pad(wall[1]))-\(pad(wall[2])) \(pad(wall[3])):\(pad(wall[4])):00"
        return try pool.query("SELECT duragraph_ts($1::timestamp AT TIME ZONE $2) AS t", [text, timezone]).first?["t"] ?? ""
    }

    public struct NewCron: Sendable {
        public var assistantID: String
        public var threadID: String?
        public var schedule: String
        public var timezone: String
        public var payload: JSON
        public var metadata: JSON
        public var enabled: Bool
        public var endTime: String?
        public var onRunCompleted: String?
        public init(assistantID: String, threadID: String?, schedule: String, timezone: String, payload: JSON, metadata: JSON,
                    enabled: Bool, endTime: String?, onRunCompleted: String?) {
            self.assistantID = assistantID; self.threadID = threadID; self.schedule = schedule; self.timezone = timezone
            self.payload = payload; self.metadata = metadata; self.enabled = enabled; self.endTime = endTime; self.onRunCompleted = onRunCompleted
        }
    }

    public func create(id: String, _ n: NewCron, nextRunAt: String) throws -> JSON {
        try pool.query("""
            INSERT INTO crons AS c (cron_id, assistant_id, thread_id, schedule, timezone, payload, metadata, enabled, end_time,
                                    on_run_completed, next_run_at)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::boolean, $9::timestamptz, $10, $11::timestamptz)
            RETURNING \(Self.object) AS obj
            """, [id, n.assistantID, n.threadID, n.schedule, n.timezone, n.payload.description, n.metadata.description,
                  n.enabled ? "true" : "false", n.endTime, n.onRunCompleted, nextRunAt]).objects().first!
    }

    public func get(id: String) throws -> JSON? {
        try pool.query("SELECT \(Self.object) AS obj FROM crons c WHERE c.cron_id = $1", [id]).objects().first
    }

    /// nil fields are kept; `endTime` .null clears it.
    public func update(id: String, schedule: String?, timezone: String?, payload: JSON?, metadata: JSON?, enabled: Bool?,
                       endTime: JSON?, nextRunAt: String?) throws -> JSON? {
        try pool.query("""
            UPDATE crons c SET schedule = coalesce($2, schedule), timezone = coalesce($3, timezone),
                payload = payload || coalesce($4::jsonb, '{}'), metadata = metadata || coalesce($5::jsonb, '{}'),
                enabled = coalesce($6::boolean, enabled),
                end_time = CASE WHEN $7::boolean THEN $8::timestamptz ELSE end_time END,
                next_run_at = coalesce($9::timestamptz, next_run_at), updated_at = clock_timestamp()
            WHERE cron_id = $1 RETURNING \(Self.object) AS obj
            """, [id, schedule, timezone, payload?.description, metadata?.description, enabled.map { $0 ? "true" : "false" },
                  endTime == nil ? "false" : "true", endTime?.stringValue, nextRunAt]).objects().first
    }

    public func delete(id: String) throws -> Bool {
        try pool.query("DELETE FROM crons WHERE cron_id = $1", [id]).affected > 0
    }

    public func search(assistantID: String?, threadID: String?, enabled: Bool?, metadata: JSON?, limit: Int, offset: Int) throws -> [JSON] {
        try pool.query("""
            SELECT \(Self.object) AS obj FROM crons c
            WHERE ($1::uuid IS NULL OR c.assistant_id = $1::uuid) AND ($2::uuid IS NULL OR c.thread_id = $2::uuid)
              AND ($3::boolean IS NULL OR c.enabled = $3::boolean) AND ($4::jsonb IS NULL OR c.metadata @> $4::jsonb)
            ORDER BY c.created_at DESC, c.cron_id LIMIT $5 OFFSET $6
            """, [assistantID, threadID, enabled.map { $0 ? "true" : "false" }, metadata?.description, String(limit), String(offset)]).objects()
    }

    public func count(assistantID: String?, threadID: String?, metadata: JSON?) throws -> Int {
        Int(try pool.query("""
            SELECT count(*) AS n FROM crons c
            WHERE ($1::uuid IS NULL OR c.assistant_id = $1::uuid) AND ($2::uuid IS NULL OR c.thread_id = $2::uuid)
              AND ($3::jsonb IS NULL OR c.metadata @> $3::jsonb)
            """, [assistantID, threadID, metadata?.description]).first?.int("n") ?? 0)
    }

    /// Fires every due cron once. `next` computes the following fire time from (schedule,
    /// timezone, this fire time). Returns the runs created.
    public func fireDue(limit: Int, next: (String, String, String) throws -> String?) throws -> [String] {
        let due = try pool.query("""
            SELECT cron_id::text AS id FROM crons WHERE enabled AND next_run_at <= clock_timestamp() ORDER BY next_run_at LIMIT $1
            """, [String(limit)]).all.map { $0["id"]! }
        var created: [String] = []
        for id in due {
            let run: String? = try pool.transaction { c in
                guard let row = try c.query("""
                    SELECT cron_id, assistant_id::text AS a, thread_id::text AS t, schedule, timezone, payload, metadata,
                           duragraph_ts(next_run_at) AS fire, end_time IS NOT NULL AND end_time <= clock_timestamp() AS expired
                    FROM crons WHERE cron_id = $1 AND enabled AND next_run_at <= clock_timestamp() FOR UPDATE SKIP LOCKED
                    """, [id]).first else { return nil }
                let fire = row["fire"]!
                let following = try next(row["schedule"]!, row["timezone"]!, fire)
                if row.bool("expired") == true || following == nil {
                    try c.query("UPDATE crons SET enabled = false, updated_at = clock_timestamp() WHERE cron_id = $1", [id])
                    if row.bool("expired") == true { return nil }
                } else {
                    try c.query("UPDATE crons SET next_run_at = $2::timestamptz, updated_at = clock_timestamp() WHERE cron_id = $1",
                                [id, following!])
                }
                guard try c.query("INSERT INTO cron_fires (cron_id, fire_at) VALUES ($1, $2::timestamptz) ON CONFLICT DO NOTHING",
                                  [id, fire]).affected > 0 else { return nil }
                let payload = row.json("payload")?.objectValue ?? [:]
                var threadID = row["t"]
                if threadID == nil {
                    threadID = Random.uuid()
                    try c.query("INSERT INTO threads (thread_id, metadata) VALUES ($1, $2::jsonb)",
                                [threadID!, JSON.object(["cron_id": .string(id)]).description])
                }
                var metadata = payload["metadata"]?.objectValue ?? [:]
                metadata["cron_id"] = .string(id)
                let runID = Random.uuid()
                _ = try RunsSQL.insert(c, id: runID, .init(threadID: threadID!, assistantID: row["a"]!,
                                                           input: payload["input"] ?? [:], config: payload["config"] ?? [:],
                                                           metadata: .object(metadata),
                                                           multitaskStrategy: payload["multitask_strategy"]?.stringValue ?? "enqueue",
                                                           webhook: payload["webhook"]?.stringValue, kwargs: .object(payload)))
                try c.query("UPDATE cron_fires SET run_id = $3 WHERE cron_id = $1 AND fire_at = $2::timestamptz", [id, fire, runID])
                return runID
            }
            if let run { created.append(run) }
        }
        return created
    }
}

private func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }

private func pad4(_ v: Int) -> String { String(repeating: "0", count: max(0, 4 - String(v).count)) + String(v) }
