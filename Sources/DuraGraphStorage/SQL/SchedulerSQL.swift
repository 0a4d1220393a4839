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
        /// Delete the thread once the run ends (stateless LangGraph run).
        public let deleteThread: Bool
        /// Cancellation was asked for before this claim (while an earlier attempt ran).
        public let cancelRequested: Bool
        /// Read with the claim, for `startPoint`: the run's own latest checkpoint, the thread's
        /// latest checkpoint, and the thread's messages newer than that.
        let ownCheckpoint: JSON?
        let threadCheckpoint: JSON?
        let threadMessages: [JSON]
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
    /// thread already has an executing run. One statement: the claim, run.started webhooks, and
    /// what each run starts from (read in the claim's snapshot, in which the thread's previous
    /// run has either finished with its checkpoint visible or is still running and blocks it).
    public func claim(owner: String, limit: Int, leaseSeconds: Double) throws -> [Claimed] {
        try pool.query(Self.claimStatement, [owner, String(limit), String(leaseSeconds)]).all.map { row in
            Claimed(runID: row["run_id"]!, threadID: row["thread_id"]!, assistantID: row["assistant_id"]!,
                    input: row.json("input") ?? .null, toolOutputs: row.json("tool_outputs"),
                    attempt: Int(row.int("attempt") ?? 1), graphID: row["graph_id"]!, assistantConfig: row.json("config") ?? [:],
                    runningFor: Double(row["running_for"] ?? "0") ?? 0, nextSeq: row.int("next_seq") ?? 1,
                    queueWait: row.bool("first") == true ? Double(row["queue_wait"] ?? "") : nil,
                    kwargs: row.json("kwargs") ?? [:], langgraph: row.bool("langgraph") ?? false,
                    hasWebhook: row.bool("has_webhook") ?? false, deleteThread: row.bool("delete_thread") ?? false,
                    cancelRequested: row.bool("cancel_requested") ?? false,
                    ownCheckpoint: row.json("own_checkpoint"), threadCheckpoint: row.json("thread_checkpoint"),
                    threadMessages: row.json("thread_messages")?.arrayValue ?? [])
        }
    }

    static let claimStatement = """
        WITH c AS (
            SELECT r.run_id, r.started_at IS NULL AS first FROM runs r
            WHERE r.status = 'queued' AND (r.not_before IS NULL OR r.not_before <= clock_timestamp())
              AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.thread_id = r.thread_id AND x.status = 'in_progress')
              AND NOT EXISTS (SELECT 1 FROM runs y WHERE y.thread_id = r.thread_id AND y.status = 'queued'
                              AND (y.created_at, y.run_id) < (r.created_at, r.run_id))
            ORDER BY r.created_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        ),
        u AS (
            UPDATE runs u SET status = 'in_progress', lease_owner = $1,
                lease_expires_at = clock_timestamp() + make_interval(secs => $3::float8),
                attempt = u.attempt + 1, started_at = coalesce(u.started_at, clock_timestamp()), updated_at = clock_timestamp()
            FROM c WHERE u.run_id = c.run_id
            RETURNING u.*, c.first
        ),
        q AS (\(WebhooksSQL.enqueueFrom("u", event: "run.started", where: "r.first")))
        SELECT r.run_id::text AS run_id, r.thread_id::text AS thread_id, r.assistant_id::text AS assistant_id,
            r.input, r.tool_outputs, r.attempt, a.graph_id, a.config, r.first, r.kwargs, r.langgraph, r.webhook IS NOT NULL AS has_webhook,
            r.delete_thread, r.cancel_requested,
            -- The timeout counts execution, not time paused waiting for input (a resumed run has tool_outputs).
            CASE WHEN r.tool_outputs IS NULL THEN extract(epoch FROM clock_timestamp() - r.started_at) ELSE 0 END::float8 AS running_for,
            extract(epoch FROM r.started_at - r.created_at)::float8 AS queue_wait,
            (SELECT coalesce(max(seq), 0) + 1 FROM run_events e WHERE e.run_id = r.run_id) AS next_seq,
            (SELECT jsonb_build_object('values', k."values", 'next', k.next, 'step', k.step, 'id', k.checkpoint_id)
             FROM checkpoints k WHERE k.run_id = r.run_id ORDER BY k.created_at DESC LIMIT 1) AS own_checkpoint,
            CASE WHEN tc.checkpoint_id IS NOT NULL THEN jsonb_build_object('values', tc."values", 'id', tc.checkpoint_id) END AS thread_checkpoint,
            -- Messages added since that checkpoint (posted to the thread, or left by a run that
            -- failed after it). Older ones are in the checkpoint already, or were dropped by a
            -- fork or a state update, and stay dropped.
            (SELECT jsonb_agg(m.extra || jsonb_build_object('id', m.message_id, 'role', m.role, 'content', m.content) ORDER BY m.seq)
             FROM thread_messages m WHERE m.thread_id = r.thread_id AND m.created_at > coalesce(tc.created_at, '-infinity')) AS thread_messages,
            \(WebhooksSQL.wake("q"))
        FROM u r
        JOIN assistants a ON a.assistant_id = r.assistant_id
        LEFT JOIN LATERAL (
            SELECT k."values", k.checkpoint_id, k.created_at FROM checkpoints k WHERE k.thread_id = r.thread_id
            ORDER BY k.created_at DESC LIMIT 1
        ) tc ON true
        """

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

    /// Where `run` starts: its own latest checkpoint (a continuation), else `from` (a checkpoint
    /// of the thread: LangGraph checkpoint_id, replay or fork; its values stand alone, without the
    /// thread's later messages), else the thread's latest state plus its newer messages. Only
    /// `from` needs a query: the rest came with the claim.
    public func startPoint(_ run: Claimed, from: String? = nil) throws -> StartPoint {
        if let own = run.ownCheckpoint {
            return StartPoint(values: own["values"] ?? [:], next: (own["next"]?.arrayValue ?? []).compactMap(\.stringValue),
                              step: Int(own["step"]?.intValue ?? 0), checkpointID: own["id"]?.stringValue, resumed: true)
        }
        if let from, let row = try pool.query("""
            SELECT "values", next, step, checkpoint_id::text AS id FROM checkpoints WHERE checkpoint_id = $1::uuid AND thread_id = $2
            """, [from, run.threadID]).first {
            return StartPoint(values: row.json("values") ?? [:], next: (row.json("next")?.arrayValue ?? []).compactMap(\.stringValue),
                              step: Int(row.int("step") ?? 0), checkpointID: row["id"], resumed: false)
        }
        var values = run.threadCheckpoint?["values"]?.objectValue ?? [:]
        if !run.threadMessages.isEmpty {
            var known = Set((values["messages"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
            var merged = values["messages"]?.arrayValue ?? []
            for m in run.threadMessages {
                var o = m.objectValue ?? [:]
                o.removeValue(forKey: "metadata")
                if let id = o["id"]?.stringValue, !known.contains(id) { known.insert(id); merged.append(.object(o)) }
            }
            values["messages"] = .array(merged)
        }
        return StartPoint(values: .object(values), next: [], step: 0, checkpointID: run.threadCheckpoint?["id"]?.stringValue, resumed: false)
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

    /// Writes events (and optionally a checkpoint and new thread messages) under the lease, in
    /// one pipelined transaction. Returns whether cancellation was requested.
    @discardableResult
    public func saveProgress(owner: String, runID: String, threadID: String, events: [Event], checkpoint: Checkpoint?,
                             newMessages: [JSON], leaseSeconds: Double) throws -> Bool {
        // The thread first, then the run: the lock order of every writer. The inserts' foreign
        // keys lock the thread anyway; taken after the run's row, that deadlocked with a thread
        // delete, which holds the thread and cascades to the run. KEY SHARE does not block other
        // writers of the thread, and a deleted thread fails the guard (the run is gone with it).
        var statements: [(sql: String, params: [String?])] = [("""
            WITH lk AS (SELECT 1 FROM threads WHERE thread_id = $4 FOR KEY SHARE),
            u AS (
                UPDATE runs SET lease_expires_at = clock_timestamp() + make_interval(secs => $3::float8), updated_at = clock_timestamp()
                WHERE run_id = $1 AND lease_owner = $2 AND status = 'in_progress' AND EXISTS (SELECT 1 FROM lk)
                RETURNING cancel_requested
            )
            SELECT duragraph_guard(EXISTS (SELECT 1 FROM u), 'lease lost') AS held, (SELECT cancel_requested FROM u) AS cancel_requested
            """, [runID, owner, String(leaseSeconds), threadID])]
        if let w = writes(runID: runID, threadID: threadID, events: events, checkpoint: checkpoint, newMessages: newMessages) {
            statements.append(w)
        }
        return try pipeline(statements).first?.first?.bool("cancel_requested") ?? false
    }

    /// Runs `statements` in one round trip; a failed lease guard is `LeaseLost`.
    private func pipeline(_ statements: [(sql: String, params: [String?])]) throws -> [PGResult] {
        do {
            return try pool.withConnection { try $0.pipeline(statements, timeout: pool.statementTimeout) }
        } catch let e as PGError where e.sqlState == "DG001" {
            throw LeaseLost()
        }
    }

    /// A step's checkpoint, new thread messages and events (announced): one statement, for a
    /// pipeline; nil when there is nothing to write.
    private func writes(runID: String, threadID: String, events: [Event], checkpoint cp: Checkpoint?,
                        newMessages: [JSON]) -> (sql: String, params: [String?])? {
        var params: [String?] = [runID, threadID]   // $1, $2
        func p(_ v: String?) -> String { params.append(v); return "$\(params.count)" }
        var parts: [String] = []
        if let cp {
            parts.append("""
                cp AS (INSERT INTO checkpoints (checkpoint_id, thread_id, run_id, parent_id, step, next, "values", metadata)
                       VALUES (\(p(cp.id))::uuid, $2, $1, \(p(cp.parentID))::uuid, \(p(String(cp.step)))::int,
                               \(p(JSON.array(cp.next.map(JSON.string)).description))::jsonb, \(p(cp.values.description))::jsonb,
                               \(p(cp.metadata.description))::jsonb))
                """)
        }
        if !newMessages.isEmpty {
            parts.append("""
                m AS (INSERT INTO thread_messages (thread_id, message_id, role, content, extra, run_id)
                      SELECT $2, m->>'id', coalesce(m->>'role', 'user'), coalesce(m->'content', '""'::jsonb), m - 'id' - 'role' - 'content', $1
                      FROM jsonb_array_elements(\(p(JSON.array(newMessages).description))::jsonb) m
                      ON CONFLICT (thread_id, message_id) DO NOTHING)
                """)
        }
        var result = "true AS written"
        if let last = events.last {
            let arr = JSON.array(events.map { ["seq": .int($0.seq), "type": .string($0.type), "data": $0.data] })
            parts.append("""
                e AS (INSERT INTO run_events (run_id, thread_id, seq, type, data)
                      SELECT $1, $2, (e->>'seq')::bigint, e->>'type', e->'data' FROM jsonb_array_elements(\(p(arr.description))::jsonb) e)
                """)
            result = "pg_notify('\(Self.eventsChannel)', \(p("\(runID):\(last.seq)"))) IS NULL AS notified"
        }
        if parts.isEmpty { return nil }
        return ("WITH " + parts.joined(separator: ",\n") + "\nSELECT " + result, params)
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

    /// The run's last write: status, output or error, events, checkpoint, messages, webhooks,
    /// thread state and status: one pipelined transaction, the thread locked first (the lock
    /// order of every writer). A cancelled run of a multitask rollback is deleted instead.
    public func finish(owner: String, run: Claimed, _ f: Finish, events: [Event], checkpoint: Checkpoint?,
                       newMessages: [JSON]) throws {
        if f.status == "cancelled" { return try finishCancelled(owner: owner, run: run, f, events: events, newMessages: newMessages) }
        // Three statements, one round trip: status under the lease (the thread locked first);
        // checkpoint, messages, events; webhooks and the thread's state and status (read after
        // the run's new status).
        var statements: [(sql: String, params: [String?])] = [(Self.endRunLocked,
            [run.runID, owner, f.status, f.output?.description, f.error?.description, f.requiredAction?.description, run.threadID])]
        if let w = writes(runID: run.runID, threadID: run.threadID, events: events, checkpoint: checkpoint, newMessages: newMessages) {
            statements.append(w)
        }
        // A run's own webhook URL hears of its end, not of a pause.
        statements.append((Self.afterRun, [run.runID, "run." + f.status, f.status == "requires_action" ? "false" : "true",
                                           f.runWebhookPayload?.description, run.threadID,
                                           f.finalValues?.description, run.deleteThread && f.status != "requires_action" ? "true" : "false",
                                           String(Self.statelessThreadGrace)]))
        _ = try pipeline(statements)
    }

    /// `endRun` with the thread ($7) locked before the run: the lock order of every writer.
    static let endRunLocked = """
        WITH lk AS (SELECT 1 FROM threads WHERE thread_id = $7 FOR NO KEY UPDATE),
        u AS (\(endRun) AND EXISTS (SELECT 1 FROM lk) RETURNING 1)
        SELECT duragraph_guard(EXISTS (SELECT 1 FROM u), 'lease lost') AS held
        """

    /// After a run's status changed: its webhooks ($1 run, $2 event, $3 own URL too, $4 body for
    /// it) and its thread's state and status ($5 thread, $6 values, $7 expire it after $8 s: a
    /// stateless run's thread goes, but not at once, since streams still read its last events).
    static let afterRun = """
        WITH q AS (\(WebhooksSQL.enqueueInsert(run: "$1", event: "$2", perRun: "$3", runPayload: "$4"))),
        t AS (\(RunsSQL.threadStatusUpdate(thread: "$5", values: "$6", alsoSet: """
            , expires_at = CASE WHEN $7::boolean THEN clock_timestamp() + make_interval(secs => $8::float8) ELSE t.expires_at END
            """)))
        SELECT \(WebhooksSQL.wake("q"))
        """

    /// Sets the run's final status (or requires_action) under its lease: $1 run, $2 owner,
    /// $3 status, $4 output, $5 error, $6 required action.
    static let endRun = """
        UPDATE runs r SET status = $3, output = $4::jsonb, error = $5::jsonb, required_action = $6::jsonb,
            tool_outputs = NULL, lease_owner = NULL, lease_expires_at = NULL, updated_at = clock_timestamp(),
            ended_at = CASE WHEN $3 = 'requires_action' THEN NULL ELSE clock_timestamp() END
        WHERE run_id = $1 AND lease_owner = $2 AND status = 'in_progress'
        """

    /// A stateless run's thread goes, but not at once: streams and waits still read the run's
    /// last events from it.
    private func expireThread(_ threadID: String) -> (sql: String, params: [String?]) {
        ("UPDATE threads SET expires_at = clock_timestamp() + make_interval(secs => $2::float8) WHERE thread_id = $1",
         [threadID, String(Self.statelessThreadGrace)])
    }

    /// Cancelled: deleted with what it left when a rollback asked for that, else recorded.
    private func finishCancelled(owner: String, run: Claimed, _ f: Finish, events: [Event], newMessages: [JSON]) throws {
        try pool.transaction { c in
            try c.query("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", [run.threadID])
            guard let row = try c.query("\(Self.endRun) RETURNING delete_on_cancel",
                                        [run.runID, owner, f.status, f.output?.description, f.error?.description,
                                         f.requiredAction?.description]).first else {
                throw LeaseLost()
            }
            var statements: [(sql: String, params: [String?])] = []
            if row.bool("delete_on_cancel") == true {
                try c.query("DELETE FROM runs WHERE run_id = $1", [run.runID])
                try RunsSQL.forget(c, threadID: run.threadID, runIDs: [run.runID])
                statements.append((RunsSQL.refreshThreadStatus, [run.threadID, nil]))   // forget() set the values
            } else {
                if let w = writes(runID: run.runID, threadID: run.threadID, events: events, checkpoint: nil, newMessages: newMessages) {
                    statements.append(w)
                }
                statements.append(WebhooksSQL.enqueueStatement(runID: run.runID, event: "run.cancelled", runPayload: f.runWebhookPayload))
                statements.append((RunsSQL.refreshThreadStatus, [run.threadID, f.finalValues?.description]))
            }
            if run.deleteThread { statements.append(expireThread(run.threadID)) }
            for s in statements { try c.query(s.sql, s.params) }
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
}
