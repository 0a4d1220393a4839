import DuraGraphCore

/// The scheduler's statements: claiming runs, leases, recovery, steps and their events,
/// checkpoints, and the final status. Every write of a run's progress is guarded by the lease
/// (`lease_owner = me AND status = 'in_progress'`): a scheduler that lost its lease cannot
/// complete a run another one has taken over.
public struct SchedulerSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    public static let eventsChannel = "duragraph_run_events"
    /// How long a stateless run's thread outlives the run (its streams are still reading).
    public static let statelessThreadGrace = 5.0

    public struct Claimed: Sendable {
        public let runID: String
        public let threadID: String
        public let assistantID: String
        public let input: JSON
        public let toolOutputs: JSON?
        public let attempt: Int
        public let graphID: String
        public let assistantConfig: JSON
        /// Seconds since the run first started (for the run timeout).
        public let runningFor: Double
        /// Next event sequence number.
        public let nextSeq: Int64
        /// Seconds from creation to this first start (nil when it started before).
        public let queueWait: Double?
        /// Run options: interrupt_before / interrupt_after ("*" or node names), LangGraph kwargs.
        public let kwargs: JSON
        /// Created through the LangGraph API (its own webhook gets LangGraph's payload).
        public let langgraph: Bool
        /// The run has its own webhook URL.
        public let hasWebhook: Bool
    }

    /// Refreshes the planner's statistics of the runs table (see the claim loop).
    public func analyzeRuns() throws {
        _ = try pool.withConnection { try $0.execute("ANALYZE runs", timeout: 60) }
    }

    /// Seconds until the earliest delayed (after_seconds) run becomes claimable; nil when none waits.
    public func nextDelayedStart() throws -> Double? {
        try pool.query("""
            SELECT extract(epoch FROM min(not_before) - clock_timestamp())::float8 AS s FROM runs
            WHERE status = 'queued' AND not_before IS NOT NULL AND not_before > clock_timestamp()
            """).first?["s"].flatMap(Double.init)
    }

    /// Deletes threads past their expiry (TTL, or the end of a stateless run) that have no queued
    /// or running run. Returns how many.
    public func deleteExpiredThreads(limit: Int = 100) throws -> Int {
        try pool.query("""
            DELETE FROM threads WHERE thread_id IN (
                SELECT t.thread_id FROM threads t
                WHERE t.expires_at < clock_timestamp()
                  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = t.thread_id AND r.status IN ('queued', 'in_progress'))
                ORDER BY t.expires_at LIMIT $1
                FOR UPDATE SKIP LOCKED)
            """, [String(limit)]).affected
    }

    /// Claims up to `limit` queued runs, oldest first, never two of one thread, never one whose
    /// thread already has an executing run.
    public func claim(owner: String, limit: Int, leaseSeconds: Double) throws -> [Claimed] {
        try pool.transaction { c in
            let r = try c.query("""
                WITH c AS (
                    SELECT r.run_id, r.started_at IS NULL AS first FROM runs r
                    WHERE r.status = 'queued' AND (r.not_before IS NULL OR r.not_before <= clock_timestamp())
                      AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.thread_id = r.thread_id AND x.status = 'in_progress')
                      AND NOT EXISTS (SELECT 1 FROM runs y WHERE y.thread_id = r.thread_id AND y.status = 'queued'
                                      AND (y.created_at, y.run_id) < (r.created_at, r.run_id))
                    ORDER BY r.created_at
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE runs u SET status = 'in_progress', lease_owner = $1,
                    lease_expires_at = clock_timestamp() + make_interval(secs => $3::float8),
                    attempt = u.attempt + 1, started_at = coalesce(u.started_at, clock_timestamp()), updated_at = clock_timestamp()
                FROM c, assistants a
                WHERE u.run_id = c.run_id AND a.assistant_id = u.assistant_id
                RETURNING u.run_id::text AS run_id, u.thread_id::text AS thread_id, u.assistant_id::text AS assistant_id,
                    u.input, u.tool_outputs, u.attempt, a.graph_id, a.config, c.first, u.kwargs, u.langgraph, u.webhook IS NOT NULL AS has_webhook,
                    -- The timeout counts execution, not time paused waiting for input (a resumed run has tool_outputs).
                    CASE WHEN u.tool_outputs IS NULL THEN extract(epoch FROM clock_timestamp() - u.started_at) ELSE 0 END::float8 AS running_for,
                    extract(epoch FROM u.started_at - u.created_at)::float8 AS queue_wait,
                    (SELECT coalesce(max(seq), 0) + 1 FROM run_events e WHERE e.run_id = u.run_id) AS next_seq
                """, [owner, String(limit), String(leaseSeconds)])
            for row in r.all where row.bool("first") == true {
                try WebhooksSQL.enqueue(c, runID: row["run_id"]!, event: "run.started")
            }
            return r.all.map { row in
                Claimed(runID: row["run_id"]!, threadID: row["thread_id"]!, assistantID: row["assistant_id"]!,
                        input: row.json("input") ?? .null, toolOutputs: row.json("tool_outputs"),
                        attempt: Int(row.int("attempt") ?? 1), graphID: row["graph_id"]!, assistantConfig: row.json("config") ?? [:],
                        runningFor: Double(row["running_for"] ?? "0") ?? 0, nextSeq: row.int("next_seq") ?? 1,
                        queueWait: row.bool("first") == true ? Double(row["queue_wait"] ?? "") : nil,
                        kwargs: row.json("kwargs") ?? [:], langgraph: row.bool("langgraph") ?? false,
                        hasWebhook: row.bool("has_webhook") ?? false)
            }
        }
    }

    /// Extends the leases of every run this owner executes; returns the ids whose cancellation
    /// was requested (a fallback for a missed control notification).
    public func heartbeat(owner: String, leaseSeconds: Double) throws -> [String] {
        try pool.query("""
            UPDATE runs SET lease_expires_at = clock_timestamp() + make_interval(secs => $2::float8)
            WHERE lease_owner = $1 AND status = 'in_progress'
            RETURNING run_id::text AS id, cancel_requested
            """, [owner, String(leaseSeconds)]).all.filter { $0.bool("cancel_requested") == true }.map { $0["id"]! }
    }

    public struct Recovered: Sendable {
        public let runID: String
        public let requeued: Bool
    }

    /// Runs whose lease expired (their scheduler died): queued again to continue from their last
    /// checkpoint, or failed once they used `maxAttempts`.
    public func recoverExpired(maxAttempts: Int) throws -> [Recovered] {
        let expired = try pool.query("""
            SELECT run_id::text AS id, thread_id::text AS t FROM runs
            WHERE status = 'in_progress' AND lease_expires_at < clock_timestamp()
            """).all
        var out: [Recovered] = []
        for e in expired {
            // One transaction per run, thread locked first (the lock order of every writer).
            let rec: Recovered? = try pool.transaction { c in
                try c.query("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", [e["t"]!])
                guard let row = try c.query("""
                    UPDATE runs r SET
                        status = CASE WHEN r.attempt >= $2::int THEN 'failed' ELSE 'queued' END,
                        error = CASE WHEN r.attempt >= $2::int
                            THEN jsonb_build_object('code', 'lease_expired', 'message',
                                 'the run''s scheduler stopped responding ' || r.attempt || ' times; giving up')
                            ELSE r.error END,
                        ended_at = CASE WHEN r.attempt >= $2::int THEN clock_timestamp() ELSE NULL END,
                        lease_owner = NULL, lease_expires_at = NULL, updated_at = clock_timestamp()
                    WHERE r.run_id = $1 AND r.status = 'in_progress' AND r.lease_expires_at < clock_timestamp()
                    RETURNING r.status, r.error
                    """, [e["id"]!, String(maxAttempts)]).first else { return nil }
                if row["status"] == "failed" {
                    try EventsSQL.append(c, runID: e["id"]!, type: "run.failed", data: row.json("error") ?? .null)
                    try c.query(RunsSQL.refreshThreadStatus, [e["t"]!, nil])
                    try WebhooksSQL.enqueue(c, runID: e["id"]!, event: "run.failed")
                } else {
                    try c.query("SELECT pg_notify($1, $2)", [RunsSQL.channel, e["id"]!])
                }
                return Recovered(runID: e["id"]!, requeued: row["status"] == "queued")
            }
            if let rec { out.append(rec) }
        }
        return out
    }

    /// Where a claimed run starts: its own latest checkpoint (a continuation), else the thread's
    /// latest state plus the thread's messages.
    public struct StartPoint: Sendable {
        public let values: JSON
        /// Nodes still to run (empty with a fresh start).
        public let next: [String]
        public let step: Int
        public let checkpointID: String?
        public let resumed: Bool
    }

    /// `from`: a checkpoint of the thread to start from instead of its latest state (LangGraph
    /// checkpoint_id: replay or fork); its values stand alone, without the thread's later messages.
    public func startPoint(runID: String, threadID: String, from: String? = nil) throws -> StartPoint {
        if let row = try pool.query("""
            SELECT "values", next, step, checkpoint_id::text AS id FROM checkpoints WHERE run_id = $1
            ORDER BY created_at DESC LIMIT 1
            """, [runID]).first {
            return StartPoint(values: row.json("values") ?? [:], next: (row.json("next")?.arrayValue ?? []).compactMap(\.stringValue),
                              step: Int(row.int("step") ?? 0), checkpointID: row["id"], resumed: true)
        }
        if let from, let row = try pool.query("""
            SELECT "values", next, step, checkpoint_id::text AS id FROM checkpoints WHERE checkpoint_id = $1::uuid AND thread_id = $2
            """, [from, threadID]).first {
            return StartPoint(values: row.json("values") ?? [:], next: (row.json("next")?.arrayValue ?? []).compactMap(\.stringValue),
                              step: Int(row.int("step") ?? 0), checkpointID: row["id"], resumed: false)
        }
        let latest = try pool.query("""
            SELECT "values", checkpoint_id::text AS id, created_at FROM checkpoints WHERE thread_id = $1 ORDER BY created_at DESC LIMIT 1
            """, [threadID]).first
        var values = latest?.json("values")?.objectValue ?? [:]
        // Messages added since that checkpoint (posted to the thread, or left by a run that failed
        // after it). Older ones are in the checkpoint already, or were dropped by a fork or a state
        // update, and stay dropped.
        let messages = try pool.query("""
            SELECT (m.extra || jsonb_build_object('id', m.message_id, 'role', m.role, 'content', m.content)) AS obj
            FROM thread_messages m WHERE m.thread_id = $1 AND m.created_at > coalesce($2::timestamptz, '-infinity')
            ORDER BY m.seq
            """, [threadID, latest?["created_at"]]).objects()
        if !messages.isEmpty {
            var known = Set((values["messages"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
            var merged = values["messages"]?.arrayValue ?? []
            for m in messages {
                var o = m.objectValue ?? [:]
                o.removeValue(forKey: "metadata")
                if let id = o["id"]?.stringValue, !known.contains(id) { known.insert(id); merged.append(.object(o)) }
            }
            values["messages"] = .array(merged)
        }
        return StartPoint(values: .object(values), next: [], step: 0, checkpointID: latest?["id"], resumed: false)
    }

    public struct Event: Sendable {
        public let seq: Int64
        public let type: String
        public let data: JSON
        public init(seq: Int64, type: String, data: JSON) { self.seq = seq; self.type = type; self.data = data }
    }

    public struct Checkpoint: Sendable {
        public let id: String
        public let parentID: String?
        public let step: Int
        public let next: [String]
        public let values: JSON
        public let metadata: JSON
        public init(id: String, parentID: String?, step: Int, next: [String], values: JSON, metadata: JSON) {
            self.id = id; self.parentID = parentID; self.step = step; self.next = next; self.values = values; self.metadata = metadata
        }
    }

    /// The lease was lost: another scheduler owns the run now (or it was cancelled and deleted).
    public struct LeaseLost: Error, Sendable {}

    /// Writes events (and optionally a checkpoint and new thread messages) under the lease.
    /// Returns whether cancellation was requested.
    @discardableResult
    public func saveProgress(owner: String, runID: String, threadID: String, events: [Event], checkpoint: Checkpoint?,
                             newMessages: [JSON], leaseSeconds: Double) throws -> Bool {
        try pool.transaction { c in
            guard let row = try c.query("""
                UPDATE runs SET lease_expires_at = clock_timestamp() + make_interval(secs => $3::float8), updated_at = clock_timestamp()
                WHERE run_id = $1 AND lease_owner = $2 AND status = 'in_progress'
                RETURNING cancel_requested
                """, [runID, owner, String(leaseSeconds)]).first else { throw LeaseLost() }
            if let cp = checkpoint { try insertCheckpoint(c, threadID: threadID, runID: runID, cp) }
            if !newMessages.isEmpty { try insertMessages(c, threadID: threadID, runID: runID, newMessages) }
            try insertEvents(c, runID: runID, threadID: threadID, events)
            return row.bool("cancel_requested") ?? false
        }
    }

    public struct Finish: Sendable {
        public var status: String            // completed, failed, cancelled, requires_action
        public var output: JSON?
        public var error: JSON?
        public var requiredAction: JSON?
        public var finalValues: JSON?
        /// The body for the run's own webhook URL when it is not the native envelope (LangGraph runs).
        public var runWebhookPayload: JSON?
        public init(status: String, output: JSON? = nil, error: JSON? = nil, requiredAction: JSON? = nil, finalValues: JSON? = nil) {
            self.status = status; self.output = output; self.error = error; self.requiredAction = requiredAction; self.finalValues = finalValues
        }
    }

    /// The run's last write: status, output or error, events, checkpoint, messages, thread status.
    /// A cancelled run of a multitask rollback is deleted instead.
    public func finish(owner: String, runID: String, threadID: String, _ f: Finish, events: [Event], checkpoint: Checkpoint?,
                       newMessages: [JSON]) throws {
        try pool.transaction { c in
            try c.query("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", [threadID])
            guard let row = try c.query("""
                UPDATE runs r SET status = $3, output = $4::jsonb, error = $5::jsonb, required_action = $6::jsonb,
                    tool_outputs = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = clock_timestamp(),
                    ended_at = CASE WHEN $3 = 'requires_action' THEN NULL ELSE clock_timestamp() END
                WHERE run_id = $1 AND lease_owner = $2 AND status = 'in_progress'
                RETURNING delete_on_cancel, delete_thread
                """, [runID, owner, f.status, f.output?.description, f.error?.description, f.requiredAction?.description]).first else {
                throw LeaseLost()
            }
            let deleted = row.bool("delete_on_cancel") == true
            if f.status == "cancelled" && deleted {
                try c.query("DELETE FROM runs WHERE run_id = $1", [runID])
                try RunsSQL.forget(c, threadID: threadID, runIDs: [runID])
            } else {
                if let cp = checkpoint { try insertCheckpoint(c, threadID: threadID, runID: runID, cp) }
                if !newMessages.isEmpty { try insertMessages(c, threadID: threadID, runID: runID, newMessages) }
                try insertEvents(c, runID: runID, threadID: threadID, events)
                try WebhooksSQL.enqueue(c, runID: runID, event: "run." + f.status, runPayload: f.runWebhookPayload)
            }
            let values = f.status == "cancelled" && deleted ? nil : f.finalValues?.description   // forget() set them
            try c.query(RunsSQL.refreshThreadStatus, [threadID, values])
            if row.bool("delete_thread") == true && f.status != "requires_action" {
                // Not at once: streams and waits still read the run's last events from the thread.
                try c.query("UPDATE threads SET expires_at = clock_timestamp() + make_interval(secs => $2::float8) WHERE thread_id = $1",
                            [threadID, String(Self.statelessThreadGrace)])
            }
        }
    }

    /// Drain: hands a run back to the queue without spending an attempt.
    public func release(owner: String, runID: String) throws {
        try pool.transaction { c in
            let r = try c.query("""
                UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, attempt = greatest(attempt - 1, 0),
                    updated_at = clock_timestamp()
                WHERE run_id = $1 AND lease_owner = $2 AND status = 'in_progress'
                """, [runID, owner])
            if r.affected > 0 { try c.query("SELECT pg_notify($1, $2)", [RunsSQL.channel, runID]) }
        }
    }

    /// Whether the run was asked to stop (cancel) or vanished.
    public func cancelRequested(runID: String) throws -> Bool {
        try pool.query("SELECT cancel_requested FROM runs WHERE run_id = $1", [runID]).first?.bool("cancel_requested") ?? true
    }

    // MARK: helpers (inside the caller's transaction)

    func insertEvents(_ c: PGConnection, runID: String, threadID: String, _ events: [Event]) throws {
        guard let last = events.last else { return }
        let arr = JSON.array(events.map { ["seq": .int($0.seq), "type": .string($0.type), "data": $0.data] })
        try c.query("""
            INSERT INTO run_events (run_id, thread_id, seq, type, data)
            SELECT $1, $3, (e->>'seq')::bigint, e->>'type', e->'data'
            FROM jsonb_array_elements($2::jsonb) e
            """, [runID, arr.description, threadID])
        try c.query("SELECT pg_notify($1, $2)", [Self.eventsChannel, "\(runID):\(last.seq)"])
    }

    func insertCheckpoint(_ c: PGConnection, threadID: String, runID: String, _ cp: Checkpoint) throws {
        try c.query("""
            INSERT INTO checkpoints (checkpoint_id, thread_id, run_id, parent_id, step, next, "values", metadata)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb)
            """, [cp.id, threadID, runID, cp.parentID, String(cp.step), JSON.array(cp.next.map(JSON.string)).description,
                  cp.values.description, cp.metadata.description])
    }

    func insertMessages(_ c: PGConnection, threadID: String, runID: String, _ messages: [JSON]) throws {
        try c.query("""
            INSERT INTO thread_messages (thread_id, message_id, role, content, extra, run_id)
            SELECT $1, m->>'id', coalesce(m->>'role', 'user'), coalesce(m->'content', '""'::jsonb),
                   m - 'id' - 'role' - 'content', $2
            FROM jsonb_array_elements($3::jsonb) m
            ON CONFLICT (thread_id, message_id) DO NOTHING
            """, [threadID, runID, JSON.array(messages).description])
    }
}
