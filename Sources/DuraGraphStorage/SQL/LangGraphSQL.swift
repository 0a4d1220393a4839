import DuraGraphCore

/// Statements only the LangGraph surface needs: offset searches and counts, thread state and
/// history (checkpoints), thread copies, run deletion, and the store.
public struct LangGraphSQL: Sendable {
    public let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    // MARK: assistants

    /// The default assistant of each built-in graph (LangGraph accepts a graph name as an
    /// assistant id): created once, with a deterministic id.
    public func ensureGraphAssistant(id: String, graphID: String) throws {
        try pool.transaction { c in
            let r = try c.query("""
                INSERT INTO assistants (assistant_id, name, graph_id, config, metadata)
                VALUES ($1, $2, $2, '{}', '{"created_by": "system"}') ON CONFLICT (assistant_id) DO NOTHING
                """, [id, graphID])
            if r.affected > 0 {
                try c.query("""
                    INSERT INTO assistant_versions (assistant_id, version, name, description, graph_id, config, metadata, created_at)
                    SELECT assistant_id, version, name, description, graph_id, config, metadata, created_at FROM assistants
                    WHERE assistant_id = $1
                    """, [id])
            }
        }
    }

    public func searchAssistants(metadata: JSON?, graphID: String?, name: String?, limit: Int, offset: Int,
                                 sortBy: String, desc: Bool) throws -> (items: [JSON], more: Bool) {
        let col = ["assistant_id", "graph_id", "name", "created_at", "updated_at"].contains(sortBy) ? sortBy : "created_at"
        let r = try pool.query("""
            SELECT \(AssistantsSQL.object) AS obj FROM assistants a
            WHERE ($1::jsonb IS NULL OR a.metadata @> $1::jsonb) AND ($2::text IS NULL OR a.graph_id = $2)
              AND ($3::text IS NULL OR a.name ILIKE '%' || $3 || '%')
            ORDER BY a.\(col) \(desc ? "DESC" : "ASC"), a.assistant_id LIMIT $4 OFFSET $5
            """, [metadata?.description, graphID, name, String(limit + 1), String(offset)])
        let items = r.objects()
        return (Array(items.prefix(limit)), items.count > limit)
    }

    public func countAssistants(metadata: JSON?, graphID: String?, name: String?) throws -> Int {
        Int(try pool.query("""
            SELECT count(*) AS n FROM assistants a
            WHERE ($1::jsonb IS NULL OR a.metadata @> $1::jsonb) AND ($2::text IS NULL OR a.graph_id = $2)
              AND ($3::text IS NULL OR a.name ILIKE '%' || $3 || '%')
            """, [metadata?.description, graphID, name]).first?.int("n") ?? 0)
    }

    public func assistantVersions(id: String, metadata: JSON?, limit: Int, offset: Int) throws -> [JSON] {
        try pool.query("""
            SELECT jsonb_build_object('assistant_id', v.assistant_id, 'version', v.version, 'name', v.name,
                       'description', v.description, 'graph_id', v.graph_id, 'config', v.config,
                       'metadata', v.metadata, 'created_at', duragraph_ts(v.created_at)) AS obj
            FROM assistant_versions v WHERE v.assistant_id = $1 AND ($2::jsonb IS NULL OR v.metadata @> $2::jsonb)
            ORDER BY v.version DESC LIMIT $3 OFFSET $4
            """, [id, metadata?.description, String(limit), String(offset)]).objects()
    }

    /// Makes an earlier version current again (as the newest state of the assistant row).
    public func setLatest(id: String, version: Int) throws -> JSON? {
        try pool.query("""
            UPDATE assistants a SET name = v.name, description = v.description, graph_id = v.graph_id, config = v.config,
                metadata = v.metadata, version = v.version, updated_at = clock_timestamp()
            FROM assistant_versions v
            WHERE a.assistant_id = $1 AND v.assistant_id = $1 AND v.version = $2
            RETURNING \(AssistantsSQL.object) AS obj
            """, [id, String(version)]).objects().first
    }

    // MARK: threads

    static let thread = """
        jsonb_build_object('thread_id', t.thread_id, 'metadata', t.metadata, 'status', t.status, 'values', t."values",
            'created_at', duragraph_ts(t.created_at), 'updated_at', duragraph_ts(t.updated_at),
            'state_updated_at', duragraph_ts(t.updated_at), 'config', '{}'::jsonb, 'interrupts', '{}'::jsonb)
        """

    public func thread(id: String) throws -> JSON? {
        try pool.query("SELECT \(Self.thread) AS obj FROM threads t WHERE t.thread_id = $1", [id]).objects().first
    }

    /// `ttlMinutes`: the thread is deleted that long after creation (LangGraph `ttl`).
    public func createThread(id: String, metadata: JSON, ttlMinutes: Double? = nil) throws -> JSON? {
        try pool.query("""
            INSERT INTO threads AS t (thread_id, metadata, expires_at)
            VALUES ($1, $2::jsonb, clock_timestamp() + make_interval(secs => $3::float8 * 60))
            ON CONFLICT (thread_id) DO NOTHING
            RETURNING \(Self.thread) AS obj
            """, [id, metadata.description, ttlMinutes.map { String($0) }]).objects().first
    }

    /// A new `ttlMinutes` counts from now.
    public func updateThread(id: String, metadataPatch: JSON?, ttlMinutes: Double? = nil) throws -> JSON? {
        try pool.query("""
            UPDATE threads t SET metadata = metadata || coalesce($2::jsonb, '{}'), updated_at = clock_timestamp(),
                expires_at = coalesce(clock_timestamp() + make_interval(secs => $3::float8 * 60), expires_at)
            WHERE thread_id = $1 RETURNING \(Self.thread) AS obj
            """, [id, metadataPatch?.description, ttlMinutes.map { String($0) }]).objects().first
    }

    public func searchThreads(metadata: JSON?, values: JSON?, status: String?, ids: [String]?, limit: Int, offset: Int,
                              sortBy: String, desc: Bool) throws -> [JSON] {
        let col = ["thread_id", "status", "created_at", "updated_at"].contains(sortBy) ? sortBy : "created_at"
        return try pool.query("""
            SELECT \(Self.thread) AS obj FROM threads t
            WHERE ($1::jsonb IS NULL OR t.metadata @> $1::jsonb) AND ($2::jsonb IS NULL OR t."values" @> $2::jsonb)
              AND ($3::text IS NULL OR t.status = $3) AND ($4::uuid[] IS NULL OR t.thread_id = ANY ($4::uuid[]))
            ORDER BY t.\(col) \(desc ? "DESC" : "ASC"), t.thread_id LIMIT $5 OFFSET $6
            """, [metadata?.description, values?.description, status, ids.map { "{" + $0.joined(separator: ",") + "}" },
                  String(limit), String(offset)]).objects()
    }

    public func countThreads(metadata: JSON?, values: JSON?, status: String?) throws -> Int {
        Int(try pool.query("""
            SELECT count(*) AS n FROM threads t
            WHERE ($1::jsonb IS NULL OR t.metadata @> $1::jsonb) AND ($2::jsonb IS NULL OR t."values" @> $2::jsonb)
              AND ($3::text IS NULL OR t.status = $3)
            """, [metadata?.description, values?.description, status]).first?.int("n") ?? 0)
    }

    /// A new thread with the same metadata, values, messages and checkpoints.
    public func copyThread(id: String, newID: String) throws -> JSON? {
        try pool.transaction { c in
            guard let obj = try c.query("""
                INSERT INTO threads AS t (thread_id, metadata, "values")
                SELECT $2, metadata, "values" FROM threads WHERE thread_id = $1
                RETURNING \(Self.thread) AS obj
                """, [id, newID]).objects().first else { return nil }
            try c.query("""
                INSERT INTO thread_messages (thread_id, message_id, role, content, extra, created_at)
                SELECT $2, message_id, role, content, extra, created_at FROM thread_messages WHERE thread_id = $1 ORDER BY seq
                """, [id, newID])
            try c.query("""
                INSERT INTO checkpoints (checkpoint_id, thread_id, run_id, parent_id, step, next, "values", metadata, created_at)
                SELECT gen_random_uuid(), $2, run_id, NULL, step, next, "values", metadata, created_at FROM checkpoints WHERE thread_id = $1
                """, [id, newID])
            return obj
        }
    }

    public func pruneThreads(ids: [String]) throws -> Int {
        try pool.query("DELETE FROM threads WHERE thread_id = ANY ($1::uuid[])", ["{" + ids.joined(separator: ",") + "}"]).affected
    }

    /// Checkpoints, newest first: {checkpoint_id, parent_id, step, next, values, metadata, created_at}.
    public func checkpoints(threadID: String, limit: Int, before: String?, checkpointID: String? = nil) throws -> [JSON] {
        try pool.query("""
            SELECT jsonb_build_object('checkpoint_id', c.checkpoint_id, 'parent_id', c.parent_id, 'step', c.step, 'next', c.next,
                       'values', c."values", 'metadata', c.metadata, 'created_at', duragraph_ts(c.created_at), 'run_id', c.run_id) AS obj
            FROM checkpoints c
            WHERE c.thread_id = $1
              AND ($2::uuid IS NULL OR c.created_at < (SELECT created_at FROM checkpoints WHERE checkpoint_id = $2::uuid))
              AND ($4::uuid IS NULL OR c.checkpoint_id = $4::uuid)
            ORDER BY c.created_at DESC LIMIT $3
            """, [threadID, before, String(limit), checkpointID]).objects()
    }

    /// update_state: a new checkpoint with the given values merged in, and the thread's values.
    public func addCheckpoint(threadID: String, id: String, values: JSON, asNode: String?) throws -> Bool {
        try pool.transaction { c in
            let parent = try c.query("""
                SELECT checkpoint_id::text AS id, step FROM checkpoints WHERE thread_id = $1 ORDER BY created_at DESC LIMIT 1
                """, [threadID]).first
            guard try c.query(#"UPDATE threads SET "values" = $2::jsonb, updated_at = clock_timestamp() WHERE thread_id = $1"#,
                              [threadID, values.description]).affected > 0 else { return false }
            try c.query("""
                INSERT INTO checkpoints (checkpoint_id, thread_id, parent_id, step, next, "values", metadata)
                VALUES ($1, $2, $3::uuid, $4, '[]', $5::jsonb, $6::jsonb)
                """, [id, threadID, parent?["id"], String((parent?.int("step") ?? 0) + 1), values.description,
                      JSON.object(["source": "update", "writes": asNode.map { JSON.object([$0: values]) } ?? .null]).description])
            return true
        }
    }

    // MARK: runs

    public func setKwargs(runID: String, kwargs: JSON) throws {
        try pool.query("UPDATE runs SET kwargs = $2::jsonb WHERE run_id = $1", [runID, kwargs.description])
    }

    public func run(threadID: String?, runID: String) throws -> (run: JSON, kwargs: JSON)? {
        guard let row = try pool.query("""
            SELECT \(RunsSQL.object) AS obj, r.kwargs FROM runs r WHERE r.run_id = $1 AND ($2::uuid IS NULL OR r.thread_id = $2::uuid)
            """, [runID, threadID]).first, let obj = row.json("obj") else { return nil }
        return (obj, row.json("kwargs") ?? [:])
    }

    public func runs(threadID: String, status: [String]?, limit: Int, offset: Int) throws -> [(run: JSON, kwargs: JSON)] {
        try pool.query("""
            SELECT \(RunsSQL.object) AS obj, r.kwargs FROM runs r
            WHERE r.thread_id = $1 AND ($2::text[] IS NULL OR r.status = ANY ($2::text[]))
            ORDER BY r.created_at DESC, r.run_id DESC LIMIT $3 OFFSET $4
            """, [threadID, status.map { "{" + $0.joined(separator: ",") + "}" }, String(limit), String(offset)]).all.compactMap { row in
            row.json("obj").map { ($0, row.json("kwargs") ?? [:]) }
        }
    }

    /// Deletes a finished run (an active one must be cancelled first).
    public func deleteRun(threadID: String, runID: String) throws -> Bool? {
        try pool.transaction { c in
            guard let st = try c.query("SELECT status FROM runs WHERE run_id = $1 AND thread_id = $2", [runID, threadID]).first?["status"] else {
                return nil
            }
            if RunsSQL.activeStatuses.contains(st) { return false }
            try c.query("DELETE FROM runs WHERE run_id = $1", [runID])
            return true
        }
    }

    // MARK: store

    static let item = """
        jsonb_build_object('namespace', to_jsonb(s.namespace), 'key', s.key, 'value', s.value,
            'created_at', duragraph_ts(s.created_at), 'updated_at', duragraph_ts(s.updated_at))
        """

    static func textArray(_ a: [String]) -> String { WebhooksSQL.textArray(a) }

    public func putItem(namespace: [String], key: String, value: JSON, ttlMinutes: Double?) throws {
        try pool.query("""
            INSERT INTO store_items (namespace, key, value, expires_at)
            VALUES ($1::text[], $2, $3::jsonb, CASE WHEN $4::float8 IS NULL THEN NULL ELSE clock_timestamp() + make_interval(secs => $4::float8 * 60) END)
            ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = clock_timestamp()
            """, [Self.textArray(namespace), key, value.description, ttlMinutes.map { String($0) }])
    }

    public func getItem(namespace: [String], key: String) throws -> JSON? {
        try pool.query("""
            SELECT \(Self.item) AS obj FROM store_items s
            WHERE s.namespace = $1::text[] AND s.key = $2 AND (s.expires_at IS NULL OR s.expires_at > clock_timestamp())
            """, [Self.textArray(namespace), key]).objects().first
    }

    public func deleteItem(namespace: [String], key: String) throws {
        try pool.query("DELETE FROM store_items WHERE namespace = $1::text[] AND key = $2", [Self.textArray(namespace), key])
    }

    public func searchItems(prefix: [String], filter: JSON?, limit: Int, offset: Int) throws -> [JSON] {
        try pool.query("""
            SELECT \(Self.item) AS obj FROM store_items s
            WHERE s.namespace[1:cardinality($1::text[])] = $1::text[] AND ($2::jsonb IS NULL OR s.value @> $2::jsonb)
              AND (s.expires_at IS NULL OR s.expires_at > clock_timestamp())
            ORDER BY s.updated_at DESC, s.key LIMIT $3 OFFSET $4
            """, [Self.textArray(prefix), filter?.description, String(limit), String(offset)]).objects()
    }

    public func namespaces(prefix: [String], suffix: [String], maxDepth: Int?, limit: Int, offset: Int) throws -> [[String]] {
        try pool.query("""
            SELECT DISTINCT CASE WHEN $3::int IS NULL THEN s.namespace ELSE s.namespace[1:$3::int] END AS ns FROM store_items s
            WHERE s.namespace[1:cardinality($1::text[])] = $1::text[]
              AND (cardinality($2::text[]) = 0 OR s.namespace[cardinality(s.namespace) - cardinality($2::text[]) + 1:] = $2::text[])
              AND (s.expires_at IS NULL OR s.expires_at > clock_timestamp())
            ORDER BY ns LIMIT $4 OFFSET $5
            """, [Self.textArray(prefix), Self.textArray(suffix), maxDepth.map(String.init), String(limit), String(offset)]).all.map { row in
            Self.parseTextArray(row["ns"] ?? "{}")
        }
    }

    /// PostgreSQL's text[] output: {a,b,"c d"}.
    static func parseTextArray(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var quoted = false, escape = false, any = false
        for ch in s.dropFirst().dropLast() {
            if escape { cur.append(ch); escape = false; continue }
            switch ch {
            case "\\": escape = true
            case "\"": quoted.toggle(); any = true
            case "," where !quoted: out.append(cur); cur = ""; any = false
            default: cur.append(ch); any = true
            }
        }
        if any || !cur.isEmpty { out.append(cur) }
        return out
    }
}

extension LangGraphSQL {
    public func activeRunIDs(statuses: [String]) throws -> [String] {
        try pool.query("SELECT run_id::text AS id FROM runs WHERE status = ANY ($1::text[])", ["{" + statuses.joined(separator: ",") + "}"])
            .all.map { $0["id"]! }
    }
}
