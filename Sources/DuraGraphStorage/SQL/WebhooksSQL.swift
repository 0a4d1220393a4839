import DuraGraphCore

/// Every statement on webhooks, their deliveries (the outbox) and delivery attempts.
public struct WebhooksSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    public static let channel = "duragraph_webhooks"
    public static let runEvents = ["run.created", "run.started", "run.completed", "run.failed", "run.cancelled", "run.requires_action"]

    static let object = """
        jsonb_build_object('webhook_id', w.webhook_id, 'url', w.url, 'events', to_jsonb(w.events),
            'description', w.description, 'metadata', w.metadata, 'enabled', w.enabled,
            'disabled_reason', w.disabled_reason, 'failing_since', duragraph_ts(w.failing_since),
            'created_at', duragraph_ts(w.created_at), 'updated_at', duragraph_ts(w.updated_at))
        """

    static let delivery = """
        jsonb_build_object('delivery_id', d.delivery_id, 'webhook_id', d.webhook_id, 'event_type', d.event_type,
            'run_id', d.run_id, 'status', d.status, 'attempt_count', d.attempts,
            'next_attempt_at', CASE WHEN d.status = 'pending' THEN duragraph_ts(d.next_attempt_at) END,
            'last_status_code', d.last_status_code, 'last_error', d.last_error, 'payload', d.payload,
            'created_at', duragraph_ts(d.created_at), 'completed_at', duragraph_ts(d.completed_at),
            'attempts', coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'started_at', duragraph_ts(a.started_at),
                    'status_code', a.status_code, 'duration_ms', a.duration_ms, 'error', a.error,
                    'response_body', a.response_body) ORDER BY a.attempt)
                FROM webhook_attempts a WHERE a.delivery_id = d.delivery_id), '[]'::jsonb))
        """

    // MARK: endpoints (API)

    public func create(id: String, url: String, events: [String], secret: String, description: String?, metadata: JSON) throws -> JSON {
        try pool.query("""
            INSERT INTO webhooks AS w (webhook_id, url, events, secrets, description, metadata)
            VALUES ($1, $2, $3::text[], jsonb_build_array(jsonb_build_object('secret', $4::text, 'expires_at', NULL)), $5, $6::jsonb)
            RETURNING \(Self.object) AS obj
            """, [id, url, Self.textArray(events), secret, description, metadata.description]).objects().first!
    }

    public func get(id: String) throws -> JSON? {
        try pool.query("SELECT \(Self.object) AS obj FROM webhooks w WHERE w.webhook_id = $1", [id]).objects().first
    }

    public func list(limit: Int, cursor: Cursor?) throws -> Page {
        let r = try withCursor(cursor) { try pool.query("""
            SELECT \(Self.object) AS obj, duragraph_ts(w.created_at) AS k, w.webhook_id::text AS id FROM webhooks w
            WHERE ($1::timestamptz IS NULL OR (w.created_at, w.webhook_id) < ($1::timestamptz, $2::uuid))
            ORDER BY w.created_at DESC, w.webhook_id DESC LIMIT $3
            """, [cursor?.key, cursor?.id, String(limit + 1)]) }
        return makePage(r, limit: limit) { Cursor(key: $0["k"]!, id: $0["id"]!) }
    }

    /// nil fields are kept. `rotateTo`: the new current secret; the old one keeps signing for
    /// `graceSeconds`. Re-enabling clears the failure state.
    public func update(id: String, url: String?, events: [String]?, enabled: Bool?, description: JSON?, metadata: JSON?,
                       rotateTo: String?, graceSeconds: Double) throws -> JSON? {
        try pool.query("""
            UPDATE webhooks w SET
                url = coalesce($2, url),
                events = coalesce($3::text[], events),
                enabled = coalesce($4::boolean, enabled),
                disabled_reason = CASE WHEN $4::boolean IS NOT NULL THEN NULL ELSE disabled_reason END,
                failing_since = CASE WHEN $4::boolean THEN NULL ELSE failing_since END,
                description = CASE WHEN $5::boolean THEN $6 ELSE description END,
                metadata = metadata || coalesce($7::jsonb, '{}'),
                secrets = CASE WHEN $8::text IS NULL THEN secrets ELSE
                    jsonb_build_array(jsonb_build_object('secret', $8::text, 'expires_at', NULL)) ||
                    jsonb_build_array(jsonb_set(secrets->0, '{expires_at}',
                        to_jsonb(duragraph_ts(clock_timestamp() + make_interval(secs => $9::float8))))) END,
                updated_at = clock_timestamp()
            WHERE webhook_id = $1
            RETURNING \(Self.object) AS obj
            """, [id, url, events.map(Self.textArray), enabled.map { $0 ? "true" : "false" },
                  description == nil ? "false" : "true", description?.stringValue, metadata?.description, rotateTo,
                  String(graceSeconds)]).objects().first
    }

    public func delete(id: String) throws -> Bool {
        try pool.query("DELETE FROM webhooks WHERE webhook_id = $1", [id]).affected > 0
    }

    public func deliveries(webhookID: String, limit: Int, cursor: Cursor?) throws -> Page {
        let r = try withCursor(cursor) { try pool.query("""
            SELECT \(Self.delivery) AS obj, duragraph_ts(d.created_at) AS k, d.delivery_id::text AS id FROM webhook_deliveries d
            WHERE d.webhook_id = $1 AND ($2::timestamptz IS NULL OR (d.created_at, d.delivery_id) < ($2::timestamptz, $3::uuid))
            ORDER BY d.created_at DESC, d.delivery_id DESC LIMIT $4
            """, [webhookID, cursor?.key, cursor?.id, String(limit + 1)]) }
        return makePage(r, limit: limit) { Cursor(key: $0["k"]!, id: $0["id"]!) }
    }

    /// Sends a delivery again (same webhook-id, so receivers can de-duplicate).
    /// Queues the delivery again at once. A delivery a dispatcher is sending right now (leased)
    /// is refused with `conflict`: clearing its lease would let a second attempt overlap it.
    public func redeliver(webhookID: String, deliveryID: String) throws -> JSON? {
        try pool.transaction { c in
            guard let row = try c.query("""
                SELECT lease_owner IS NOT NULL AND lease_expires_at > clock_timestamp() AS in_flight
                FROM webhook_deliveries WHERE webhook_id = $1 AND delivery_id = $2 FOR UPDATE
                """, [webhookID, deliveryID]).first else { return nil }
            if row.bool("in_flight") == true {
                throw StoreError.conflict("delivery \(deliveryID) is being sent now; redeliver it once this attempt is recorded")
            }
            let r = try c.query("""
                UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = clock_timestamp(), completed_at = NULL,
                    lease_owner = NULL, lease_expires_at = NULL, updated_at = clock_timestamp()
                WHERE d.webhook_id = $1 AND d.delivery_id = $2
                RETURNING \(Self.delivery) AS obj
                """, [webhookID, deliveryID]).objects().first
            if r != nil { try c.query("SELECT pg_notify($1, '')", [Self.channel]) }
            return r
        }
    }

    /// A "ping" event to one endpoint.
    public func enqueueTest(webhookID: String) throws -> JSON? {
        try pool.transaction { c in
            let r = try c.query("""
                INSERT INTO webhook_deliveries AS d (delivery_id, webhook_id, url, event_type, payload)
                SELECT gen_random_uuid(), w.webhook_id, w.url, 'ping',
                       jsonb_build_object('type', 'ping', 'timestamp', duragraph_ts(clock_timestamp()),
                                          'data', jsonb_build_object('webhook_id', w.webhook_id, 'message', 'DuraGraph test event'))
                FROM webhooks w WHERE w.webhook_id = $1
                RETURNING \(Self.delivery) AS obj
                """, [webhookID]).objects().first
            if r != nil { try c.query("SELECT pg_notify($1, '')", [Self.channel]) }
            return r
        }
    }

    // MARK: outbox (inside the caller's transaction)

    /// Queues `event` for the run to every enabled endpoint subscribed to it, and, for the end of a
    /// run, to the run's own webhook URL. Payload: {type, timestamp, data: run}.
    /// `runPayload` replaces the envelope for the run's own URL (LangGraph's shape), completed
    /// here with the run's timestamps, metadata and strategy.
    public static func enqueue(_ c: PGConnection, runID: String, event: String, runPayload: JSON? = nil) throws {
        let s = enqueueStatement(runID: runID, event: event, runPayload: runPayload)
        try c.query(s.sql, s.params)
    }

    /// `enqueue` as one statement (for a pipeline), waking the dispatchers when it queued anything.
    static func enqueueStatement(runID: String, event: String, runPayload: JSON? = nil) -> (sql: String, params: [String?]) {
        let perRun = event == "run.completed" || event == "run.failed" || event == "run.cancelled"
        // The payload is built per recipient, so a run with none (the common case) costs one
        // index probe instead of serializing the run for nobody.
        return ("WITH q AS (\(enqueueInsert(run: "$1", event: "$2", perRun: "$3", runPayload: "$4")))\nSELECT \(wake("q"))",
                [runID, event, perRun ? "true" : "false", runPayload?.description])
    }

    /// The insert of `enqueue` (RETURNING 1), its parameters placed by the caller: run id, event
    /// name (text), whether the run's own URL gets it (boolean), the body for that URL (jsonb).
    static func enqueueInsert(run: String, event: String, perRun: String, runPayload: String) -> String {
        """
        INSERT INTO webhook_deliveries (delivery_id, webhook_id, url, run_id, event_type, payload)
        SELECT gen_random_uuid(), t.webhook_id, t.url, r.run_id, \(event)::text,
               CASE WHEN t.webhook_id IS NULL AND \(runPayload)::jsonb IS NOT NULL
                    THEN \(runPayload)::jsonb || jsonb_build_object('created_at', duragraph_ts(r.created_at), 'updated_at', duragraph_ts(r.updated_at),
                                                         'metadata', r.metadata, 'multitask_strategy', r.multitask_strategy)
                    ELSE jsonb_build_object('type', \(event)::text, 'timestamp', duragraph_ts(clock_timestamp()), 'data', \(RunsSQL.object)) END
        FROM runs r
        CROSS JOIN LATERAL (
            SELECT w.webhook_id, w.url FROM webhooks w WHERE w.enabled AND (\(event)::text = ANY (w.events) OR '*' = ANY (w.events))
            UNION ALL
            SELECT NULL, r.webhook WHERE \(perRun)::boolean AND r.webhook IS NOT NULL
        ) t
        WHERE r.run_id = \(run)
        RETURNING 1
        """
    }

    /// A data-modifying CTE body that queues `event` (a constant: run.created, run.started) for
    /// every run row of `source` (a CTE returning whole runs rows, aliased r in the payload) to
    /// every enabled endpoint subscribed to it. Used inside the statements that create and
    /// claim runs, so those stay one statement.
    static func enqueueFrom(_ source: String, event: String, where condition: String = "true") -> String {
        precondition(event.allSatisfy { $0.isLetter || $0 == "." }, "event must be a constant name")
        return """
            INSERT INTO webhook_deliveries (delivery_id, webhook_id, url, run_id, event_type, payload)
            SELECT gen_random_uuid(), w.webhook_id, w.url, r.run_id, '\(event)',
                   jsonb_build_object('type', '\(event)', 'timestamp', duragraph_ts(clock_timestamp()), 'data', \(RunsSQL.object))
            FROM \(source) r JOIN webhooks w ON w.enabled AND ('\(event)' = ANY (w.events) OR '*' = ANY (w.events))
            WHERE \(condition)
            RETURNING 1
            """
    }

    /// A scalar expression that wakes the dispatchers when the CTE `queued` inserted anything.
    static func wake(_ queued: String) -> String {
        "(SELECT pg_notify('\(channel)', '') FROM (SELECT 1 FROM \(queued) LIMIT 1) x) IS NULL AS woke"
    }

    // MARK: dispatcher

    public struct Due: Sendable {
        public let deliveryID: String
        public let webhookID: String?
        public let url: String
        public let payload: String
        public let attempts: Int
        /// Secrets that sign this delivery (current first, then rotating-out ones).
        public let secrets: [String]
        public let createdAt: Double
    }

    /// Claims due deliveries with a lease (so a dispatcher killed mid-delivery loses nothing: the
    /// lease expires and another sends it again, with the same webhook-id).
    public func claim(owner: String, limit: Int, leaseSeconds: Double, runSecret: String) throws -> [Due] {
        try pool.query("""
            WITH c AS (
                SELECT d.delivery_id FROM webhook_deliveries d
                LEFT JOIN webhooks w ON w.webhook_id = d.webhook_id
                WHERE d.status = 'pending' AND d.next_attempt_at <= clock_timestamp()
                  AND (d.lease_expires_at IS NULL OR d.lease_expires_at < clock_timestamp())
                  AND (d.webhook_id IS NULL OR w.enabled)
                ORDER BY d.next_attempt_at
                LIMIT $2
                FOR UPDATE OF d SKIP LOCKED
            )
            UPDATE webhook_deliveries u SET lease_owner = $1,
                lease_expires_at = clock_timestamp() + make_interval(secs => $3::float8), updated_at = clock_timestamp()
            FROM c WHERE u.delivery_id = c.delivery_id
            RETURNING u.delivery_id::text AS id, u.webhook_id::text AS wid, u.url, u.payload::text AS payload, u.attempts,
                extract(epoch FROM u.created_at)::float8 AS created,
                coalesce((SELECT jsonb_agg(s->'secret') FROM webhooks w, jsonb_array_elements(w.secrets) s
                          WHERE w.webhook_id = u.webhook_id
                            AND (s->>'expires_at' IS NULL OR (s->>'expires_at')::timestamptz > clock_timestamp())),
                         jsonb_build_array($4::text)) AS secrets
            """, [owner, String(limit), String(leaseSeconds), runSecret]).all.map { row in
            Due(deliveryID: row["id"]!, webhookID: row["wid"], url: row["url"]!, payload: row["payload"]!,
                attempts: Int(row.int("attempts") ?? 0), secrets: (row.json("secrets")?.arrayValue ?? []).compactMap(\.stringValue),
                createdAt: Double(row["created"] ?? "0") ?? 0)
        }
    }

    public struct Attempt: Sendable {
        public var startedAtMillis: Int64
        public var statusCode: Int?
        public var durationMs: Double
        public var error: String?
        public var responseBody: String?
        public init(startedAtMillis: Int64, statusCode: Int?, durationMs: Double, error: String?, responseBody: String?) {
            self.startedAtMillis = startedAtMillis; self.statusCode = statusCode; self.durationMs = durationMs
            self.error = error; self.responseBody = responseBody
        }
    }

    public enum Outcome: Sendable {
        case succeeded
        /// Try again after `delay` seconds.
        case retry(delay: Double)
        /// No more attempts; `disableEndpoint` with a reason (410 Gone, failing too long).
        case failed(disableEndpoint: String?)
    }

    /// Records the attempt and its outcome; updates the endpoint's failure streak. Returns the
    /// endpoint's failing duration in seconds (0 when healthy).
    @discardableResult
    public func record(owner: String, _ d: Due, _ a: Attempt, _ outcome: Outcome) throws -> Double {
        if case .succeeded = outcome {
            // The common case in one statement (one round trip, one commit): the attempt, the
            // delivery done, the endpoint no longer failing.
            try pool.query("""
                WITH attempt AS (
                    INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code, duration_ms, error, response_body)
                    VALUES ($1, $2::int, to_timestamp($3::float8 / 1000), $4::int, $5::float8, NULL, $6)
                    ON CONFLICT DO NOTHING
                ), endpoint AS (
                    UPDATE webhooks SET failing_since = NULL WHERE webhook_id = $7::uuid AND failing_since IS NOT NULL
                )
                UPDATE webhook_deliveries SET status = 'succeeded', attempts = $2::int, last_status_code = $4::int, last_error = NULL,
                    next_attempt_at = clock_timestamp(), completed_at = clock_timestamp(),
                    lease_owner = NULL, lease_expires_at = NULL, updated_at = clock_timestamp()
                WHERE delivery_id = $1
                """, [d.deliveryID, String(d.attempts + 1), String(a.startedAtMillis), a.statusCode.map(String.init),
                      String(a.durationMs), a.responseBody, d.webhookID])
            return 0
        }
        return try pool.transaction { c in
            let attempt = d.attempts + 1
            try c.query("""
                INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code, duration_ms, error, response_body)
                VALUES ($1, $2, to_timestamp($3::float8 / 1000), $4::int, $5::float8, $6, $7)
                ON CONFLICT DO NOTHING
                """, [d.deliveryID, String(attempt), String(a.startedAtMillis), a.statusCode.map(String.init), String(a.durationMs),
                      a.error, a.responseBody])
            var status = "pending", delay = 0.0
            switch outcome {
            case .succeeded: status = "succeeded"
            case .retry(let s): delay = s
            case .failed: status = "failed"
            }
            try c.query("""
                UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status_code = $4::int, last_error = $5,
                    next_attempt_at = clock_timestamp() + make_interval(secs => $6::float8),
                    completed_at = CASE WHEN $2 = 'pending' THEN NULL ELSE clock_timestamp() END,
                    lease_owner = NULL, lease_expires_at = NULL, updated_at = clock_timestamp()
                WHERE delivery_id = $1
                """, [d.deliveryID, status, String(attempt), a.statusCode.map(String.init), a.error, String(delay)])
            guard let wid = d.webhookID else { return 0 }
            if case .succeeded = outcome {
                try c.query("UPDATE webhooks SET failing_since = NULL WHERE webhook_id = $1 AND failing_since IS NOT NULL", [wid])
                return 0
            }
            if case .failed(let reason?) = outcome {
                try c.query("""
                    UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = clock_timestamp() WHERE webhook_id = $1
                    """, [wid, reason])
            }
            let r = try c.query("""
                UPDATE webhooks SET failing_since = coalesce(failing_since, clock_timestamp()) WHERE webhook_id = $1
                RETURNING extract(epoch FROM clock_timestamp() - failing_since)::float8 AS s
                """, [wid])
            return Double(r.first?["s"] ?? "0") ?? 0
        }
    }

    public func disable(webhookID: String, reason: String) throws {
        try pool.query("""
            UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = clock_timestamp() WHERE webhook_id = $1 AND enabled
            """, [webhookID, reason])
    }

    /// The secret that signs deliveries to per-run webhook URLs: generated once per deployment.
    public func runWebhookSecret(generate: () -> String) throws -> String {
        try pool.query("INSERT INTO server_settings (key, value) VALUES ('run_webhook_secret', $1) ON CONFLICT DO NOTHING", [generate()])
        return try pool.query("SELECT value FROM server_settings WHERE key = 'run_webhook_secret'").first?["value"] ?? ""
    }

    /// Deliveries waiting, and the age of the oldest due one (metrics).
    public func backlog() throws -> (pending: Int, oldestDueSeconds: Double) {
        let r = try pool.query("""
            SELECT count(*) AS n, coalesce(extract(epoch FROM clock_timestamp() - min(next_attempt_at)
                   FILTER (WHERE next_attempt_at <= clock_timestamp())), 0)::float8 AS age
            FROM webhook_deliveries WHERE status = 'pending'
            """).first
        return (Int(r?.int("n") ?? 0), Double(r?["age"] ?? "0") ?? 0)
    }

    static func textArray(_ a: [String]) -> String {
        "{" + a.map { "\"" + $0.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"") + "\"" }.joined(separator: ",") + "}"
    }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}
