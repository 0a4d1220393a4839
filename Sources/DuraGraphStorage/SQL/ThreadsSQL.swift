import DuraGraphCore

/// Every statement on `threads` and `thread_messages`.
public struct ThreadsSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    static let object = """
        jsonb_build_object('thread_id', t.thread_id, 'metadata', t.metadata, 'status', t.status,
            'created_at', duragraph_ts(t.created_at), 'updated_at', duragraph_ts(t.updated_at))
        """
    static let message = """
        (m.extra || jsonb_build_object('id', m.message_id, 'role', m.role, 'content', m.content,
            'run_id', m.run_id, 'created_at', duragraph_ts(m.created_at)))
        """

    public func create(id: String, metadata: JSON) throws -> JSON {
        let r = try pool.query("""
            INSERT INTO threads AS t (thread_id, metadata) VALUES ($1, $2::jsonb)
            ON CONFLICT (thread_id) DO NOTHING
            RETURNING \(Self.object) AS obj
            """, [id, metadata.description])
        guard let obj = r.objects().first else { throw StoreError.conflict("thread \(id) already exists") }
        return obj
    }

    public func get(id: String) throws -> JSON? {
        try pool.query("SELECT \(Self.object) AS obj FROM threads t WHERE t.thread_id = $1", [id]).objects().first
    }

    /// Merges `metadata` into the thread's metadata.
    public func update(id: String, metadataPatch: JSON?) throws -> JSON? {
        try pool.query("""
            UPDATE threads t SET metadata = metadata || coalesce($2::jsonb, '{}'), updated_at = clock_timestamp()
            WHERE thread_id = $1
            RETURNING \(Self.object) AS obj
            """, [id, metadataPatch?.description]).objects().first
    }

    /// Deletes the thread with its runs, their events, and its messages (ON DELETE CASCADE).
    public func delete(id: String) throws -> Bool {
        try pool.query("DELETE FROM threads WHERE thread_id = $1", [id]).affected > 0
    }

    public func list(limit: Int, cursor: Cursor?, metadata: JSON?, status: String?) throws -> Page {
        let r = try withCursor(cursor) { try pool.query("""
            SELECT \(Self.object) AS obj, duragraph_ts(t.created_at) AS k, t.thread_id::text AS id
            FROM threads t
            WHERE ($1::timestamptz IS NULL OR (t.created_at, t.thread_id) < ($1::timestamptz, $2::uuid))
              AND ($3::jsonb IS NULL OR t.metadata @> $3::jsonb)
              AND ($4::text IS NULL OR t.status = $4)
            ORDER BY t.created_at DESC, t.thread_id DESC
            LIMIT $5
            """, [cursor?.key, cursor?.id, metadata?.description, status, String(limit + 1)]) }
        return makePage(r, limit: limit) { Cursor(key: $0["k"]!, id: $0["id"]!) }
    }

    // MARK: messages

    /// Appends a message; nil when the thread does not exist; .conflict on a duplicate id.
    public func addMessage(threadID: String, id: String, role: String, content: JSON, extra: JSON) throws -> JSON? {
        try pool.transaction { c in
            guard try !c.query("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", [threadID]).rows.isEmpty else { return nil }
            let r = try c.query("""
                INSERT INTO thread_messages AS m (thread_id, message_id, role, content, extra)
                VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)
                ON CONFLICT (thread_id, message_id) DO NOTHING
                RETURNING \(Self.message) AS obj
                """, [threadID, id, role, content.description, extra.description])
            guard let obj = r.objects().first else { throw StoreError.conflict("message \(id) already exists in this thread") }
            try c.query("UPDATE threads SET updated_at = clock_timestamp() WHERE thread_id = $1", [threadID])
            return obj
        }
    }

    /// Messages in conversation order (oldest first); the cursor is the last sequence number read.
    public func messages(threadID: String, limit: Int, cursor: Cursor?) throws -> Page {
        let r = try withCursor(cursor) { try pool.query("""
            SELECT \(Self.message) AS obj, m.seq::text AS k
            FROM thread_messages m
            WHERE m.thread_id = $1 AND ($2::bigint IS NULL OR m.seq > $2::bigint)
            ORDER BY m.seq
            LIMIT $3
            """, [threadID, cursor?.key, String(limit + 1)]) }
        return makePage(r, limit: limit) { Cursor(key: $0["k"]!, id: threadID) }
    }
}
