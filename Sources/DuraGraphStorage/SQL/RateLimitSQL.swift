import DuraGraphCore

/// The shared token buckets of the rate limiter: one UPSERT per request refills the bucket for the
/// time passed, takes a token if there is one and returns what is left. Row locks serialise
/// concurrent requests of one key across every api process.
public struct RateLimitSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    public struct Outcome: Sendable {
        public let allowed: Bool
        /// Tokens left after this request (fractional).
        public let tokens: Double
        /// The database's clock (Unix seconds) when the request was counted.
        public let now: Double
    }

    public func take(bucket: String, perSecond: Double, burst: Int) throws -> Outcome {
        let refill = "duragraph_refill(b.tokens, b.updated_at, statement_timestamp(), $2::float8, $3::float8)"
        let r = try pool.query("""
            INSERT INTO rate_limit_buckets AS b (bucket, tokens, allowed, updated_at)
            VALUES ($1, $3::float8 - 1, true, statement_timestamp())
            ON CONFLICT (bucket) DO UPDATE SET
                tokens = CASE WHEN \(refill) >= 1 THEN \(refill) - 1 ELSE \(refill) END,
                allowed = \(refill) >= 1,
                updated_at = statement_timestamp()
            RETURNING b.tokens::text AS tokens, b.allowed, extract(epoch FROM b.updated_at)::float8::text AS now
            """, [bucket, String(perSecond), String(burst)])
        guard let row = r.first, let t = row["tokens"].flatMap(Double.init), let now = row["now"].flatMap(Double.init) else {
            throw StoreError.notFound("rate limit bucket")
        }
        return Outcome(allowed: row.bool("allowed") ?? false, tokens: t, now: now)
    }

    /// Drops buckets idle for longer than `idleSeconds` (they would be full again anyway).
    @discardableResult
    public func prune(idleSeconds: Double) throws -> Int {
        try pool.query("DELETE FROM rate_limit_buckets WHERE updated_at < statement_timestamp() - make_interval(secs => $1::float8)",
                       [String(idleSeconds)]).affected
    }
}
