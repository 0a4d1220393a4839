/// Verification of HS256 JSON Web Tokens (RFC 7519) signed with a shared secret. Only `HS256`
/// is accepted: `none` and every other algorithm are refused before anything else is looked at.
public struct JWTVerifier: Sendable {
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case malformed, unsupportedAlgorithm, badSignature, expired, notYetValid, wrongIssuer, wrongAudience, badClaim(String)
        /// Safe to show to a client: says what is wrong, never echoes the token or the secret.
        public var description: String {
            switch self {
            case .malformed: return "token is not a well-formed JWT"
            case .unsupportedAlgorithm: return "token algorithm is not accepted (only HS256)"
            case .badSignature: return "token signature is invalid"
            case .expired: return "token has expired"
            case .notYetValid: return "token is not valid yet"
            case .wrongIssuer: return "token issuer is not accepted"
            case .wrongAudience: return "token audience is not accepted"
            case .badClaim(let c): return "token claim \(c) is invalid"
            }
        }
    }

    let secret: [UInt8]
    public let issuer: String?
    public let audience: String?
    public let leeway: Double

    public init(secret: String, issuer: String? = nil, audience: String? = nil, leeway: Double = 30) {
        self.secret = Array(secret.utf8)
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
    }

    /// The claims of a valid token; `now` in Unix seconds.
    public func verify(_ token: String, now: Double) throws(Failure) -> [String: JSON] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 8192 else { throw .malformed }
        guard let hb = AuthCrypto.base64urlDecode(parts[0]), let header = try? JSON.parse(String(decoding: hb, as: UTF8.self)),
              case .object(let h) = header else { throw .malformed }
        guard case .string(let alg)? = h["alg"], alg == "HS256" else { throw .unsupportedAlgorithm }
        if case .string(let typ)? = h["typ"], typ.uppercased() != "JWT" { throw .malformed }
        if h["crit"] != nil { throw .malformed }   // no extensions are understood
        guard let sig = AuthCrypto.base64urlDecode(parts[2]) else { throw .malformed }
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        let expected = AuthCrypto.hmacSHA256(key: secret, signingInput)
        guard AuthCrypto.constantTimeEqual(sig, expected) else { throw .badSignature }
        guard let pb = AuthCrypto.base64urlDecode(parts[1]), let payload = try? JSON.parse(String(decoding: pb, as: UTF8.self)),
              case .object(let claims) = payload else { throw .malformed }
        if let exp = claims["exp"] {
            guard let e = Self.number(exp) else { throw .badClaim("exp") }
            if now > e + leeway { throw .expired }
        }
        if let nbf = claims["nbf"] {
            guard let n = Self.number(nbf) else { throw .badClaim("nbf") }
            if now + leeway < n { throw .notYetValid }
        }
        if let iss = issuer {
            guard case .string(let got)? = claims["iss"], got == iss else { throw .wrongIssuer }
        }
        if let aud = audience {
            switch claims["aud"] {
            case .string(let a)? where a == aud: break
            case .array(let list)? where list.contains(where: { $0.stringValue == aud }): break
            default: throw .wrongAudience
            }
        }
        return claims
    }

    static func number(_ v: JSON) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d.isFinite ? d : nil
        default: return nil
        }
    }

    /// Signs claims with HS256 (tests and tooling).
    public static func sign(_ claims: JSON, secret: String, alg: String = "HS256") -> String {
        let header = Base64URL.encode(JSON.object(["alg": .string(alg), "typ": "JWT"]).utf8Bytes)
        let payload = Base64URL.encode(claims.utf8Bytes)
        let sig = AuthCrypto.hmacSHA256(key: Array(secret.utf8), Array("\(header).\(payload)".utf8))
        return "\(header).\(payload).\(Base64URL.encode(sig))"
    }
}
