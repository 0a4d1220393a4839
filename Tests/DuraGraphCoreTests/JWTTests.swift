import DuraGraphCore
import XCTest

final class JWTTests: XCTestCase {
    let secret = "unit-test-secret-0123456789-abcdefghijkl"
    let now = 1_800_000_000.0

    func token(_ claims: JSON, alg: String = "HS256", secret: String? = nil) -> String {
        JWTVerifier.sign(claims, secret: secret ?? self.secret, alg: alg)
    }

    func testValidTokenReturnsClaims() throws {
        let v = JWTVerifier(secret: secret, issuer: "iss", audience: "aud")
        let c = try v.verify(token(["sub": "u", "iss": "iss", "aud": ["x", "aud"], "exp": .int(Int64(now) + 10), "scope": "read"]), now: now)
        XCTAssertEqual(c["sub"], "u")
        XCTAssertEqual(c["scope"], "read")
    }

    func testRejections() {
        let v = JWTVerifier(secret: secret, issuer: "iss", audience: "aud", leeway: 30)
        let good: [String: JSON] = ["iss": "iss", "aud": "aud"]
        func fails(_ t: String, _ expected: JWTVerifier.Failure, line: UInt = #line) {
            XCTAssertThrowsError(try v.verify(t, now: now), line: line) { XCTAssertEqual($0 as? JWTVerifier.Failure, expected, line: line) }
        }
        var o = good; o["exp"] = .int(Int64(now) - 31)
        fails(token(.object(o)), .expired)
        o = good; o["nbf"] = .int(Int64(now) + 31)
        fails(token(.object(o)), .notYetValid)
        fails(token(.object(good), secret: "another-secret-0123456789-abcdefghijk"), .badSignature)
        fails(token(.object(good), alg: "none"), .unsupportedAlgorithm)
        fails(token(.object(good), alg: "HS512"), .unsupportedAlgorithm)
        o = good; o["iss"] = "other"
        fails(token(.object(o)), .wrongIssuer)
        o = good; o["aud"] = ["a", "b"]
        fails(token(.object(o)), .wrongAudience)
        o = good; o["exp"] = "soon"
        fails(token(.object(o)), .badClaim("exp"))
        fails("a.b", .malformed)
        fails("a.b.c", .malformed)
        // an unsigned token with alg none and an empty signature
        let header = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8))
        fails("\(header).\(Base64URL.encode(Array("{}".utf8))).", .unsupportedAlgorithm)
        // the signature of another payload
        let t1 = token(.object(good)).split(separator: ".")
        var o2 = good; o2["scope"] = "admin"
        let t2 = token(.object(o2)).split(separator: ".")
        fails("\(t1[0]).\(t2[1]).\(t1[2])", .badSignature)
    }

    func testLeewayAllowsSmallSkew() throws {
        let v = JWTVerifier(secret: secret, leeway: 30)
        _ = try v.verify(token(["exp": .int(Int64(now) - 29), "nbf": .int(Int64(now) + 29)]), now: now)
    }

    func testBase64URLRoundTripAndStrictness() {
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            XCTAssertEqual(AuthCrypto.base64urlDecode(Substring(Base64URL.encode(bytes))), bytes)
        }
        XCTAssertNil(AuthCrypto.base64urlDecode("ab+c"))
        XCTAssertNil(AuthCrypto.base64urlDecode("abc="))
        XCTAssertNil(AuthCrypto.base64urlDecode("a"))
    }

    func testConstantTimeEqualAndKeys() {
        XCTAssertTrue(AuthCrypto.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(AuthCrypto.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(AuthCrypto.constantTimeEqual([1, 2], [1, 2, 3]))
        XCTAssertEqual(AuthCrypto.sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let a = APIKeyMaterial.generate(), b = APIKeyMaterial.generate()
        XCTAssertNotEqual(a.key, b.key)
        XCTAssertEqual(a.key.count, 46)
        XCTAssertTrue(a.key.hasPrefix("dg_") && a.key.hasPrefix(a.prefix))
        XCTAssertEqual(a.hash, AuthCrypto.sha256Hex(a.key))
    }

    func testAuthSettings() throws {
        XCTAssertThrowsError(try AuthSettings(Config(values: ["JWT_SECRET": "short"]))) {
            XCTAssertFalse(String(describing: $0).contains("short"))
        }
        let s = try AuthSettings(Config(values: ["AUTH_ENABLED": "true", "JWT_SECRET": secret, "AUTH_PUBLIC_PATHS": "/health, /docs/*"]))
        XCTAssertTrue(s.rateLimitEnabled)   // defaults to AUTH_ENABLED
        XCTAssertTrue(s.isPublic("/health") && s.isPublic("/docs/x") && !s.isPublic("/health/live") && !s.isPublic("/api/v1/runs"))
        XCTAssertFalse(s.description.contains(secret))
        XCTAssertThrowsError(try AuthSettings(Config(values: ["AUTH_PUBLIC_PATHS": "health"])))
        XCTAssertThrowsError(try AuthSettings(Config(values: ["RATE_LIMIT_BURST": "0"])))
    }
}
