import DuraGraphCore

/// Every statement on `runs` (and the thread status they imply).
public struct RunsSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    public static let activeStatuses = ["queued", "in_progress", "requires_action"]
    public static let statuses = ["queued", "in_progress", "requires_action", "completed", "failed", "cancelled"]
    public static let channel = "duragraph_runs"
    public static let controlChannel = "duragraph_control"

    static let object = """
        jsonb_build_object('run_id', r.run_id, 'thread_id', r.thread_id, 'assistant_id', r.assistant_id,
            'status', r.status, 'input', r.input, 'output', r.output, 'error', r.error,
            'required_action', r.required_action, 'config', r.config, 'metadata', r.metadata,
            'multitask_strategy', r.multitask_strategy, 'webhook', r.webhook, 'attempt', r.attempt,
            'created_at', duragraph_ts(r.created_at), 'updated_at', duragraph_ts(r.updated_at),
            'started_at', duragraph_ts(r.started_at), 'ended_at', duragraph_ts(r.ended_at))
        """

    /// Thread status follows its runs: busy while one is queued or running, interrupted while one
    /// waits for input, error when the latest run failed, else idle. $2, when not null, is the
    /// thread's new state (a run's final values), written in the same row update.
    static let refreshThreadStatus = threadStatusUpdate(thread: "$1", values: "$2")

    /// `refreshThreadStatus` with its parameters placed by the caller (inside a larger statement);
    /// `alsoSet` adds assignments.
    static func threadStatusUpdate(thread: String, values: String, alsoSet: String = "") -> String {
        """
        UPDATE threads t SET "values" = coalesce(\(values)::jsonb, t."values"), status = CASE
            WHEN EXISTS (SELECT 1 FROM runs WHERE thread_id = t.thread_id AND status IN ('queued', 'in_progress')) THEN 'busy'
            WHEN EXISTS (SELECT 1 FROM runs WHERE thread_id = t.thread_id AND status = 'requires_action') THEN 'interrupted'
            WHEN (SELECT status FROM runs WHERE thread_id = t.thread_id ORDER BY created_at DESC, run_id DESC LIMIT 1) = 'failed' THEN 'error'
            ELSE 'idle' END,
            updated_at = clock_timestamp()\(alsoSet)
        WHERE thread_id = \(thread)
        """
    }

    public struct NewRun: Sendable {
        public var threadID: String
        public var assistantID: String
        public var input: JSON
        public var config: JSON
        public var metadata: JSON
        public var multitaskStrategy: String
        public var webhook: String?
        /// LangGraph run options (stream_mode, on_completion, ...).
        public var kwargs: JSON
        /// Seconds before the run may start (LangGraph after_seconds).
        public var afterSeconds: Double?
        /// Delete the thread once the run ends (a stateless LangGraph run with on_completion=delete).
        public var deleteThread = false
        /// Created through the LangGraph API: its own webhook gets LangGraph's payload.
        public var langgraph = false
        /// A run paused for input on the thread ends (completed) instead of waiting on: LangGraph
        /// treats new input on an interrupted thread as moving on, not as a queue behind the pause.
        public var supersedePaused = false
        public init(threadID: String, assistantID: String, input: JSON, config: JSON, metadata: JSON,
                    multitaskStrategy: String, webhook: String?, kwargs: JSON = [:]) {
            self.threadID = threadID; self.assistantID = assistantID; self.input = input; self.config = config
            self.metadata = metadata; self.multitaskStrategy = multitaskStrategy; self.webhook = webhook; self.kwargs = kwargs
        }
    }

    /// Checks thread and assistant, applies the multitask strategy to the thread's active runs,
    /// inserts the queued run and notifies the schedulers, all in one transaction.
    public func create(id: String, _ n: NewRun) throws -> JSON {
        if n.multitaskStrategy == "enqueue" && !n.supersedePaused {
            // The common case needs no look at the thread's other runs: one statement.
            do {
                if let obj = try pool.query(Self.enqueueStatement, Self.insertParams(id: id, n)).objects().first { return obj }
            } catch let e as PGError where e.sqlState == PGError.foreignKeyViolation {
                // No such thread or assistant: the full path below says which.
            }
        }
        return try pool.transaction { c in try Self.insert(c, id: id, n) }
    }

    static let insertRun = """
        INSERT INTO runs AS r (run_id, thread_id, assistant_id, input, config, metadata, multitask_strategy, webhook, kwargs,
                               not_before, delete_thread, langgraph)
        VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7, $8, $9::jsonb,
                clock_timestamp() + make_interval(secs => $10::float8), $11::boolean, $12::boolean)
        """

    static func insertParams(id: String, _ n: NewRun) -> [String?] {
        [id, n.threadID, n.assistantID, n.input.description, n.config.description, n.metadata.description,
         n.multitaskStrategy, n.webhook, n.kwargs.description, n.afterSeconds.map { String($0) },
         n.deleteThread ? "true" : "false", n.langgraph ? "true" : "false"]
    }

    /// A run queued behind whatever the thread runs (strategy enqueue): the run, the thread
    /// marked busy (a queued run makes it so), run.created webhooks, the schedulers woken. A
    /// missing thread or assistant fails the insert's foreign key.
    static let enqueueStatement = """
        WITH r AS (\(insertRun) RETURNING r.*),
        t AS (UPDATE threads SET status = 'busy', updated_at = clock_timestamp() WHERE thread_id = $2),
        q AS (\(WebhooksSQL.enqueueFrom("r", event: "run.created")))
        SELECT \(object) AS obj, pg_notify('\(channel)', \(wakePayload("r.run_id::text", afterSeconds: "$10::float8"))) IS NULL AS notified,
            \(WebhooksSQL.wake("q"))
        FROM r
        """

    /// What the schedulers are told of a new run: its id, or "delayed:<seconds>" when it may not
    /// start yet (after_seconds), so they know when to look again without asking the database.
    static func wakePayload(_ runID: String, afterSeconds: String) -> String {
        "CASE WHEN \(afterSeconds) > 0 THEN 'delayed:' || \(afterSeconds)::text ELSE \(runID) END"
    }

    /// The body of `create`, inside the caller's transaction (crons create runs this way).
    static func insert(_ c: PGConnection, id: String, _ n: NewRun) throws -> JSON {
        do {
            guard try !c.query("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", [n.threadID]).rows.isEmpty else {
                throw StoreError.notFound("thread")
            }
            guard try !c.query("SELECT 1 FROM assistants WHERE assistant_id = $1", [n.assistantID]).rows.isEmpty else {
                throw StoreError.notFound("assistant")
            }
            var active = try c.query("""
                SELECT run_id::text AS id, status FROM runs
                WHERE thread_id = $1 AND status IN ('queued', 'in_progress', 'requires_action')
                ORDER BY created_at FOR UPDATE
                """, [n.threadID]).all
            if n.supersedePaused {
                for row in active where row["status"] == "requires_action" {
                    try c.query("""
                        UPDATE runs SET status = 'completed', ended_at = clock_timestamp(), updated_at = clock_timestamp()
                        WHERE run_id = $1
                        """, [row["id"]!])
                    try EventsSQL.append(c, runID: row["id"]!, type: "run.completed", data: ["superseded_by": .string(id)])
                    try WebhooksSQL.enqueue(c, runID: row["id"]!, event: "run.completed")
                }
                active.removeAll { $0["status"] == "requires_action" }
            }
            if !active.isEmpty {
                switch n.multitaskStrategy {
                case "reject":
                    throw StoreError.conflict("thread \(n.threadID) already has an active run")
                case "interrupt", "rollback":
                    try Self.stopActive(c, threadID: n.threadID, byRun: id, delete: n.multitaskStrategy == "rollback")
                default:   // enqueue: waits its turn
                    break
                }
            }
            let r = try c.query("\(insertRun) RETURNING \(Self.object) AS obj", insertParams(id: id, n))
            try c.query(Self.refreshThreadStatus, [n.threadID, nil])
            try WebhooksSQL.enqueue(c, runID: id, event: "run.created")
            try c.query("SELECT pg_notify($1, \(Self.wakePayload("$2::text", afterSeconds: "$3::float8")))",
                        [Self.channel, id, n.afterSeconds.map { String($0) }])
            return r.objects().first!
        }
    }

    /// interrupt/rollback: runs not yet executing stop at once; an executing run is asked to stop
    /// (its scheduler sees the flag and the control notification).
    private static func stopActive(_ c: PGConnection, threadID: String, byRun: String, delete: Bool) throws {
        let reason = JSON.object(["code": "interrupted", "message": .string("interrupted by run \(byRun)")]).description
        if delete {
            let gone = try c.query("""
                DELETE FROM runs WHERE thread_id = $1 AND status IN ('queued', 'requires_action') RETURNING run_id::text AS id
                """, [threadID]).all.compactMap { $0["id"] }
            if !gone.isEmpty { try forget(c, threadID: threadID, runIDs: gone) }
        } else {
            let stopped = try c.query("""
                UPDATE runs SET status = 'cancelled', error = $2::jsonb, ended_at = clock_timestamp(), updated_at = clock_timestamp()
                WHERE thread_id = $1 AND status IN ('queued', 'requires_action')
                RETURNING run_id::text AS id
                """, [threadID, reason])
            for row in stopped.all {
                try EventsSQL.append(c, runID: row["id"]!, type: "run.cancelled", data: ["reason": .string("interrupted by run \(byRun)")])
                try WebhooksSQL.enqueue(c, runID: row["id"]!, event: "run.cancelled")
            }
        }
        let running = try c.query("""
            UPDATE runs SET cancel_requested = true, delete_on_cancel = $2::boolean, updated_at = clock_timestamp()
            WHERE thread_id = $1 AND status = 'in_progress'
            RETURNING run_id::text AS id
            """, [threadID, delete ? "true" : "false"])
        for row in running.all { try c.query("SELECT pg_notify($1, $2)", [Self.controlChannel, "cancel:" + row["id"]!]) }
    }

    /// Rollback: the thread forgets what deleted runs wrote (checkpoints, messages), and its
    /// values go back to its latest remaining checkpoint (a run paused for input had set them).
    static func forget(_ c: PGConnection, threadID: String, runIDs: [String]) throws {
        let ids = "{" + runIDs.joined(separator: ",") + "}"
        try c.query("DELETE FROM checkpoints WHERE thread_id = $1 AND run_id = ANY ($2::uuid[])", [threadID, ids])
        try c.query("DELETE FROM thread_messages WHERE thread_id = $1 AND run_id = ANY ($2::uuid[])", [threadID, ids])
        try c.query("""
            UPDATE threads t SET "values" = (SELECT c."values" FROM checkpoints c WHERE c.thread_id = t.thread_id
                                             ORDER BY c.created_at DESC LIMIT 1)
            WHERE t.thread_id = $1
            """, [threadID])
    }

    /// Lock order everywhere: the thread row (FOR NO KEY UPDATE, which does not block the foreign-key
    /// checks of inserted messages and events), then its runs. Returns false when the run is gone.
    static func lockThread(ofRun id: String, _ c: PGConnection) throws -> Bool {
        guard let t = try c.query("SELECT thread_id::text AS t FROM runs WHERE run_id = $1", [id]).first?["t"] else { return false }
        try c.query("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", [t])
        return true
    }

    public func get(id: String) throws -> JSON? {
        try pool.query("SELECT \(Self.object) AS obj FROM runs r WHERE r.run_id = $1", [id]).objects().first
    }

    /// Newest first, optionally one thread's and one status.
    public func list(threadID: String?, status: String?, limit: Int, cursor: Cursor?) throws -> Page {
        let r = try withCursor(cursor) { try pool.query("""
            SELECT \(Self.object) AS obj, duragraph_ts(r.created_at) AS k, r.run_id::text AS id
            FROM runs r
            WHERE ($1::uuid IS NULL OR r.thread_id = $1::uuid)
              AND ($2::text IS NULL OR r.status = $2)
              AND ($3::timestamptz IS NULL OR (r.created_at, r.run_id) < ($3::timestamptz, $4::uuid))
            ORDER BY r.created_at DESC, r.run_id DESC
            LIMIT $5
            """, [threadID, status, cursor?.key, cursor?.id, String(limit + 1)]) }
        return makePage(r, limit: limit) { Cursor(key: $0["k"]!, id: $0["id"]!) }
    }

    public enum CancelOutcome: Sendable {
        /// Stopped at once (it was not executing).
        case cancelled(JSON)
        /// Executing: its scheduler was asked to stop it.
        case requested(JSON)
        /// Already finished.
        case finished(String)
    }

    public func cancel(id: String) throws -> CancelOutcome? {
        try pool.transaction { c in
            guard let row = try Self.lockRun(id, c) else { return nil }
            let status = row.status
            switch status {
            case "queued", "requires_action":
                let r = try c.query("""
                    UPDATE runs r SET status = 'cancelled', required_action = NULL, ended_at = clock_timestamp(), updated_at = clock_timestamp()
                    WHERE run_id = $1 RETURNING \(Self.object) AS obj
                    """, [id])
                try c.query(Self.refreshThreadStatus, [row.threadID, nil])
                try EventsSQL.append(c, runID: id, type: "run.cancelled", data: [:])   // ends its streams
                try WebhooksSQL.enqueue(c, runID: id, event: "run.cancelled")
                return .cancelled(r.objects().first!)
            case "in_progress":
                let r = try c.query("""
                    UPDATE runs r SET cancel_requested = true, updated_at = clock_timestamp()
                    WHERE run_id = $1 RETURNING \(Self.object) AS obj
                    """, [id])
                try c.query("SELECT pg_notify($1, $2)", [Self.controlChannel, "cancel:" + id])
                return .requested(r.objects().first!)
            default:
                return .finished(status)
            }
        }
    }

    public enum ToolOutputsOutcome: Sendable {
        case resumed(JSON)
        case notWaiting(String)
        /// tool_call ids that the run did not ask for, and the ones it asked for that are missing.
        case mismatch(unknown: [String], missing: [String])
        /// The run waits for human input, not tool outputs.
        case wrongKind(String)
    }

    /// Records the outputs of the tool calls a run waits for, and queues it again.
    public func submitToolOutputs(id: String, outputs: [JSON]) throws -> ToolOutputsOutcome? {
        try pool.transaction { c in
            guard let row = try Self.lockRun(id, c) else { return nil }
            guard row.status == "requires_action" else { return .notWaiting(row.status) }
            let kind = row.action?["type"]?.stringValue ?? ""
            guard kind == "submit_tool_outputs" else { return .wrongKind(kind) }
            let wanted = Set((row.action?["tool_calls"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
            let given = outputs.compactMap { $0["tool_call_id"]?.stringValue }
            let unknown = given.filter { !wanted.contains($0) }
            let missing = wanted.subtracting(given).sorted()
            if !unknown.isEmpty || !missing.isEmpty { return .mismatch(unknown: unknown, missing: missing) }
            return .resumed(try Self.requeue(c, id, threadID: row.threadID, resume: .array(outputs)).run)
        }
    }

    public enum ResumeOutcome: Sendable {
        /// The run, and the seq of its last event before it was queued again: where a client
        /// following its continuation starts (read after the commit, it may already include the
        /// continuation's end).
        case resumed(JSON, lastSeq: Int64)
        case notWaiting(String)
        /// The run waits for tool outputs, not for human input.
        case wrongKind(String)
    }

    /// Continues a run paused at a human node with the given input.
    public func resume(id: String, input: JSON) throws -> ResumeOutcome? {
        try pool.transaction { c in
            guard let row = try Self.lockRun(id, c) else { return nil }
            guard row.status == "requires_action" else { return .notWaiting(row.status) }
            let kind = row.action?["type"]?.stringValue ?? ""
            guard kind == "human_input" || kind == "interrupt" else { return .wrongKind(kind) }
            let r = try Self.requeue(c, id, threadID: row.threadID, resume: input)
            return .resumed(r.run, lastSeq: r.lastSeq)
        }
    }

    /// A run's thread then the run itself locked (the lock order of every writer), with what it waits for.
    private static func lockRun(_ id: String, _ c: PGConnection) throws -> (status: String, threadID: String, action: JSON?)? {
        guard try lockThread(ofRun: id, c), let row = try c.query("""
            SELECT status, thread_id::text AS t, required_action FROM runs WHERE run_id = $1 FOR UPDATE
            """, [id]).first else { return nil }
        return (row["status"]!, row["t"]!, row.json("required_action"))
    }

    /// Queues a paused run again with the value that resumes it (tool outputs or input); its
    /// attempt budget starts over, since pausing was not a failure.
    private static func requeue(_ c: PGConnection, _ id: String, threadID: String, resume: JSON) throws -> (run: JSON, lastSeq: Int64) {
        let r = try c.query("""
            UPDATE runs r SET status = 'queued', tool_outputs = $2::jsonb, required_action = NULL, updated_at = clock_timestamp(),
                attempt = 0
            WHERE run_id = $1
            RETURNING \(object) AS obj, (SELECT coalesce(max(seq), 0) FROM run_events e WHERE e.run_id = r.run_id) AS last_seq
            """, [id, resume.description])
        try c.query(refreshThreadStatus, [threadID, nil])
        try c.query("SELECT pg_notify($1, $2)", [channel, id])
        return (r.objects().first!, r.first?.int("last_seq") ?? 0)
    }
}
