import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage
import Synchronization

/// The api role's RequestGate: API keys and HS256 JWTs when AUTH_ENABLED, then a token bucket
/// in PostgreSQL per key (per client address when auth is off) when RATE_LIMIT_ENABLED.
/// Public paths (AUTH_PUBLIC_PATHS) skip both. Credentials never appear in logs or errors.
final class AuthGate: RequestGate {
    static let adminPrefixes = ["/api/v1/apikeys"]

    struct Principal {
        let kind: String   // "api_key" | "jwt" | "address"
        let subject: String
        let scope: Scope
    }

    let settings: AuthSettings
    let keys: APIKeysSQL
    let limits: RateLimitSQL
    let jwt: JWTVerifier?
    private let lastLimitWarning = Atomic<Int64>(0)

    init(settings: AuthSettings, pool: PGPool) {
        self.settings = settings
        keys = APIKeysSQL(pool: pool)
        limits = RateLimitSQL(pool: pool)
        jwt = settings.jwtSecret.map { JWTVerifier(secret: $0, issuer: settings.jwtIssuer, audience: settings.jwtAudience,
                                                   leeway: settings.jwtLeeway) }
    }

    var isActive: Bool { settings.enabled || settings.rateLimitEnabled }

    /// AUTH_ENABLED with neither JWT_SECRET nor an active API key could never admit anyone.
    func checkStartup() throws {
        guard settings.enabled, settings.jwtSecret == nil else { return }
        if try keys.activeCount() == 0 {
            throw ConfigError("AUTH_ENABLED=true needs JWT_SECRET or at least one API key "
                              + "(create one with: duragraph apikey create --name NAME --scope admin)")
        }
    }

    /// Drops idle rate-limit buckets once a minute.
    func startMaintenance(stop: Event) {
        guard settings.rateLimitEnabled else { return }
        let idle = Double(settings.burst) / (Double(settings.ratePerMinute) / 60) + 60
        let limits = self.limits
        startThread(name: "ratelimit-gc") {
            while !stop.wait(seconds: 60) {
                do { try limits.prune(idleSeconds: idle) } catch {
                    Log.warn("rate-limit pruning failed", ["error": .string(String(describing: error))])
                }
            }
        }
    }

    func admit(_ req: HTTPRequest) -> GateDecision {
        if settings.isPublic(req.path) { return .allow(headers: []) }
        let principal: Principal
        if settings.enabled {
            switch authenticate(req) {
            case .success(let p): principal = p
            case .failure(let e): return .deny(e)
            }
        } else {
            principal = Principal(kind: "address", subject: req.remoteAddress, scope: .admin)
        }
        var headers: [(String, String)] = []
        if settings.rateLimitEnabled {
            switch rateLimit(principal) {
            case .success(let h): headers = h
            case .failure(let e): return .deny(e)
            }
        }
        let needed = Scope.required(method: req.method, path: req.path, adminPrefixes: Self.adminPrefixes)
        if principal.scope < needed {
            var e = HTTPError.forbidden("This \(principal.kind == "jwt" ? "token" : "API key") has scope \(principal.scope), "
                                        + "which does not allow \(req.method) \(req.routeTemplate == "unmatched" ? req.path : req.routeTemplate)",
                                        required: needed, granted: principal.scope)
            e.headers = headers
            return .deny(e)
        }
        return .allow(headers: headers)
    }

    // MARK: authentication

    func authenticate(_ req: HTTPRequest) -> Result<Principal, HTTPError> {
        let token: String
        switch Credential.of(req) {
        case .none:
            return .failure(.unauthorized("Authentication required: send Authorization: Bearer <API key or JWT> or X-API-Key"))
        case .malformed:
            return .failure(.unauthorized("Malformed credentials: expected Authorization: Bearer <token>"))
        case .token(let t): token = t
        }
        if token.hasPrefix(APIKeyMaterial.marker) { return apiKey(token) }
        if token.utf8.filter({ $0 == UInt8(ascii: ".") }).count == 2 { return bearerJWT(token) }
        return .failure(.unauthorized("Invalid credentials"))
    }

    private func apiKey(_ key: String) -> Result<Principal, HTTPError> {
        guard key.utf8.count <= 256 else { return .failure(.unauthorized("Invalid API key")) }
        let hash = AuthCrypto.sha256Hex(key)
        do {
            guard let found = try keys.active(hash: hash),
                  AuthCrypto.constantTimeEqual(Array(found.hash.utf8), Array(hash.utf8)),
                  let scope = Scope(name: found.scope) else {
                return .failure(.unauthorized("Invalid or revoked API key"))
            }
            return .success(Principal(kind: "api_key", subject: "key:" + found.id, scope: scope))
        } catch let e as DatabaseUnavailable where e.isUnavailable {
            return .failure(.unavailable)
        } catch {
            Log.error("API key lookup failed", ["error": .string(String(describing: error))])
            return .failure(.internalError)
        }
    }

    private func bearerJWT(_ token: String) -> Result<Principal, HTTPError> {
        guard let jwt else { return .failure(.unauthorized("JWT authentication is not configured (JWT_SECRET is unset)")) }
        let claims: [String: JSON]
        do {
            claims = try jwt.verify(token, now: Double(Clock.wallMillis()) / 1000)
        } catch {
            return .failure(.unauthorized("Invalid token: \(error.description)"))
        }
        var scope = Scope.write
        switch claims["scope"] {
        case nil, .null?: break
        case .string(let s)?:
            // "read", or an OAuth-style list such as "read write": the highest known scope wins.
            guard let best = s.split(separator: " ").compactMap({ Scope(name: String($0)) }).max() else {
                return .failure(.unauthorized("Invalid token: token claim scope is invalid"))
            }
            scope = best
        default:
            return .failure(.unauthorized("Invalid token: token claim scope is invalid"))
        }
        let subject = claims["sub"]?.stringValue.map { "jwt:sub:" + $0 } ?? "jwt:" + String(AuthCrypto.sha256Hex(token).prefix(32))
        return .success(Principal(kind: "jwt", subject: subject, scope: scope))
    }

    // MARK: rate limits

    private func rateLimit(_ p: Principal) -> Result<[(String, String)], HTTPError> {
        let perSecond = Double(settings.ratePerMinute) / 60
        let outcome: RateLimitSQL.Outcome
        do {
            outcome = try limits.take(bucket: p.kind == "address" ? "ip:" + p.subject : p.subject, perSecond: perSecond,
                                      burst: settings.burst)
        } catch {
            // Fail open: a rate limiter that cannot reach its table must not take the API down.
            let now = Clock.wallMillis()
            if now - lastLimitWarning.load(ordering: .relaxed) > 10_000 {
                lastLimitWarning.store(now, ordering: .relaxed)
                Log.warn("rate limit not checked (database error); request allowed", ["error": .string(String(describing: error))])
            }
            return .success([])
        }
        let tokens = max(0, outcome.tokens)
        let reset = Int64((outcome.now + (Double(settings.burst) - tokens) / perSecond).rounded(.up))
        let headers = [("X-RateLimit-Limit", String(settings.burst)),
                       ("X-RateLimit-Remaining", String(Int(tokens.rounded(.down)))),
                       ("X-RateLimit-Reset", String(reset))]
        if outcome.allowed { return .success(headers) }
        let retry = max(1, Int(((1 - tokens) / perSecond).rounded(.up)))
        var e = HTTPError(429, "rate_limit_exceeded", "Too many requests",
                          details: ["limit_per_minute": .int(Int64(settings.ratePerMinute)), "burst": .int(Int64(settings.burst))])
        e.extra = ["retry_after": .int(Int64(retry))]
        e.headers = headers + [("Retry-After", String(retry))]
        return .failure(e)
    }
}
