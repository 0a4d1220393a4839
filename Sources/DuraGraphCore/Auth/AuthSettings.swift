/// Authentication and rate-limit settings (AUTH_*, JWT_*, RATE_LIMIT_*), validated at start-up.
/// The JWT secret is never printed: `description` redacts it.
public struct AuthSettings: Sendable, CustomStringConvertible {
    public var enabled: Bool
    public var jwtSecret: String?
    public var jwtIssuer: String?
    public var jwtAudience: String?
    public var jwtLeeway: Double
    /// Paths served without credentials or rate limits: exact paths, or prefixes ending in `*`.
    public var publicPaths: [String]
    public var rateLimitEnabled: Bool
    public var ratePerMinute: Int
    public var burst: Int

    public static let defaultPublicPaths = "/health,/health/*,/metrics"
    public static let minSecretBytes = 32

    public init(_ c: Config) throws(ConfigError) {
        enabled = try c.bool("AUTH_ENABLED", false)
        jwtSecret = c.optional("JWT_SECRET")
        if let s = jwtSecret, s.utf8.count < Self.minSecretBytes {
            throw ConfigError("JWT_SECRET must be at least \(Self.minSecretBytes) bytes (it is not shown here)")
        }
        jwtIssuer = c.optional("JWT_ISSUER")
        jwtAudience = c.optional("JWT_AUDIENCE")
        jwtLeeway = try c.double("JWT_LEEWAY", 30, range: 0...600)
        let paths = c.string("AUTH_PUBLIC_PATHS", Self.defaultPublicPaths)
        publicPaths = paths.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        if let bad = publicPaths.first(where: { !$0.hasPrefix("/") || $0.dropLast().contains("*") }) {
            throw ConfigError("AUTH_PUBLIC_PATHS entries must start with / and may only end in *, got \"\(bad)\"")
        }
        rateLimitEnabled = try c.bool("RATE_LIMIT_ENABLED", enabled)
        ratePerMinute = try c.int("RATE_LIMIT_PER_MINUTE", 100, range: 1...1_000_000)
        burst = try c.int("RATE_LIMIT_BURST", 200, range: 1...1_000_000)
    }

    public func isPublic(_ path: String) -> Bool {
        publicPaths.contains { p in p.hasSuffix("*") ? path.hasPrefix(p.dropLast()) : path == p }
    }

    public var description: String {
        "AuthSettings(enabled: \(enabled), jwt_secret: \(jwtSecret == nil ? "unset" : "set"), issuer: \(jwtIssuer ?? "-"), "
            + "audience: \(jwtAudience ?? "-"), rate_limit: \(rateLimitEnabled ? "\(ratePerMinute)/min burst \(burst)" : "off"))"
    }
}
