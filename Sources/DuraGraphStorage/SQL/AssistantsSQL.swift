import DuraGraphCore

/// Every statement on `assistants` and `assistant_versions`.
public struct AssistantsSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    static let object = """
        jsonb_build_object('assistant_id', a.assistant_id, 'name', a.name, 'description', a.description,
            'graph_id', a.graph_id, 'config', a.config, 'metadata', a.metadata, 'version', a.version,
            'created_at', duragraph_ts(a.created_at), 'updated_at', duragraph_ts(a.updated_at))
        """

    public struct Fields: Sendable {
        public var name: String
        public var description: String?
        public var graphID: String
        public var config: JSON
        public var metadata: JSON
        public init(name: String, description: String?, graphID: String, config: JSON, metadata: JSON) {
            self.name = name; self.description = description; self.graphID = graphID; self.config = config; self.metadata = metadata
        }
    }

    /// Inserts version 1. Throws .conflict when the id exists.
    public func create(id: String, _ f: Fields) throws -> JSON {
        try pool.transaction { c in
            let r = try c.query("""
                INSERT INTO assistants AS a (assistant_id, name, description, graph_id, config, metadata)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)
                ON CONFLICT (assistant_id) DO NOTHING
                RETURNING \(Self.object) AS obj
                """, [id, f.name, f.description, f.graphID, f.config.description, f.metadata.description])
            guard let obj = r.objects().first else { throw StoreError.conflict("assistant \(id) already exists") }
            try c.query("""
                INSERT INTO assistant_versions (assistant_id, version, name, description, graph_id, config, metadata, created_at)
                SELECT assistant_id, version, name, description, graph_id, config, metadata, created_at
                FROM assistants WHERE assistant_id = $1
                """, [id])
            return obj
        }
    }

    public func get(id: String) throws -> JSON? {
        try pool.query("SELECT \(Self.object) AS obj FROM assistants a WHERE a.assistant_id = $1", [id]).objects().first
    }

    public func exists(id: String) throws -> Bool {
        try !pool.query("SELECT 1 FROM assistants WHERE assistant_id = $1", [id]).rows.isEmpty
    }

    /// Applies the given fields (nil = keep; metadata is merged) as a new version.
    public func update(id: String, name: String?, description: JSON?, graphID: String?, config: JSON?, metadataPatch: JSON?) throws -> JSON? {
        try pool.transaction { c in
            let r = try c.query("""
                UPDATE assistants a SET
                    name = coalesce($2, name),
                    description = CASE WHEN $3::boolean THEN $4 ELSE description END,
                    graph_id = coalesce($5, graph_id),
                    config = coalesce($6::jsonb, config),
                    metadata = metadata || coalesce($7::jsonb, '{}'),
                    version = version + 1,
                    updated_at = clock_timestamp()
                WHERE assistant_id = $1
                RETURNING \(Self.object) AS obj
                """, [id, name, description == nil ? "false" : "true", description?.stringValue, graphID,
                      config?.description, metadataPatch?.description])
            guard let obj = r.objects().first else { return nil }
            try c.query("""
                INSERT INTO assistant_versions (assistant_id, version, name, description, graph_id, config, metadata, created_at)
                SELECT assistant_id, version, name, description, graph_id, config, metadata, updated_at
                FROM assistants WHERE assistant_id = $1
                """, [id])
            return obj
        }
    }

    /// Deletes the assistant, its versions and its runs; the threads those runs kept busy get their
    /// status recomputed.
    public func delete(id: String) throws -> Bool {
        try pool.transaction { c in
            let threads = try c.query("""
                SELECT t.thread_id::text AS t FROM threads t
                WHERE t.thread_id IN (SELECT thread_id FROM runs WHERE assistant_id = $1)
                ORDER BY t.thread_id FOR NO KEY UPDATE
                """, [id]).all.map { $0["t"]! }
            guard try c.query("DELETE FROM assistants WHERE assistant_id = $1", [id]).affected > 0 else { return false }
            for t in threads { try c.query(RunsSQL.refreshThreadStatus, [t, nil]) }
            return true
        }
    }

    /// Newest first; filters: metadata containment, graph_id, name.
    public func list(limit: Int, cursor: Cursor?, metadata: JSON?, graphID: String?, name: String?) throws -> Page {
        let r = try withCursor(cursor) { try pool.query("""
            SELECT \(Self.object) AS obj, duragraph_ts(a.created_at) AS k, a.assistant_id::text AS id
            FROM assistants a
            WHERE ($1::timestamptz IS NULL OR (a.created_at, a.assistant_id) < ($1::timestamptz, $2::uuid))
              AND ($3::jsonb IS NULL OR a.metadata @> $3::jsonb)
              AND ($4::text IS NULL OR a.graph_id = $4)
              AND ($5::text IS NULL OR a.name = $5)
            ORDER BY a.created_at DESC, a.assistant_id DESC
            LIMIT $6
            """, [cursor?.key, cursor?.id, metadata?.description, graphID, name, String(limit + 1)]) }
        return makePage(r, limit: limit) { Cursor(key: $0["k"]!, id: $0["id"]!) }
    }

    /// Versions of one assistant, newest first.
    public func versions(id: String, limit: Int, cursor: Cursor?) throws -> Page {
        let r = try withCursor(cursor) { try pool.query("""
            SELECT jsonb_build_object('assistant_id', v.assistant_id, 'version', v.version, 'name', v.name,
                       'description', v.description, 'graph_id', v.graph_id, 'config', v.config,
                       'metadata', v.metadata, 'created_at', duragraph_ts(v.created_at)) AS obj,
                   v.version::text AS k
            FROM assistant_versions v
            WHERE v.assistant_id = $1 AND ($2::int IS NULL OR v.version < $2::int)
            ORDER BY v.version DESC
            LIMIT $3
            """, [id, cursor?.key, String(limit + 1)]) }
        return makePage(r, limit: limit) { Cursor(key: $0["k"]!, id: id) }
    }
}
