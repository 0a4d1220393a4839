import DuraGraphCore

/// Every statement on API keys. Keys themselves are never stored: only their SHA-256 (hex).
public struct APIKeysSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    public static let scopes = ["read", "write", "admin"]

    static let object = """
        jsonb_build_object('key_id', k.key_id, 'name', k.name, 'scope', k.scope, 'prefix', k.key_prefix,
            'revoked', k.revoked_at IS NOT NULL, 'created_at', duragraph_ts(k.created_at), 'revoked_at', duragraph_ts(k.revoked_at))
        """

    public func create(id: String, name: String, scope: String, hash: String, prefix: String) throws -> JSON {
        try pool.query("""
            INSERT INTO api_keys AS k (key_id, name, scope, key_hash, key_prefix) VALUES ($1, $2, $3, $4, $5)
            RETURNING \(Self.object) AS obj
            """, [id, name, scope, hash, prefix]).objects().first!
    }

    public func get(id: String) throws -> JSON? {
        try pool.query("SELECT \(Self.object) AS obj FROM api_keys k WHERE k.key_id = $1", [id]).objects().first
    }

    public func list(limit: Int, cursor: Cursor?) throws -> Page {
        let r = try withCursor(cursor) { try pool.query("""
            SELECT \(Self.object) AS obj, duragraph_ts(k.created_at) AS k, k.key_id::text AS id FROM api_keys k
            WHERE ($1::timestamptz IS NULL OR (k.created_at, k.key_id) < ($1::timestamptz, $2::uuid))
            ORDER BY k.created_at DESC, k.key_id DESC LIMIT $3
            """, [cursor?.key, cursor?.id, String(limit + 1)]) }
        return makePage(r, limit: limit) { Cursor(key: $0["k"]!, id: $0["id"]!) }
    }

    /// Revokes a key (idempotent); nil when no such key exists.
    public func revoke(id: String) throws -> JSON? {
        try pool.query("""
            UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, clock_timestamp()) WHERE k.key_id = $1
            RETURNING \(Self.object) AS obj
            """, [id]).objects().first
    }

    /// The active key with this hash: (key_id, scope, stored hash).
    public func active(hash: String) throws -> (id: String, scope: String, hash: String)? {
        guard let row = try pool.query("SELECT key_id::text, scope, key_hash FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                                       [hash]).first,
              let id = row["key_id"], let scope = row["scope"], let stored = row["key_hash"] else { return nil }
        return (id, scope, stored)
    }

    public func activeCount() throws -> Int {
        Int(try pool.query("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL").first?.int("n") ?? 0)
    }
}
