import COpenSSL

/// Small OpenSSL helpers for authentication: SHA-256, HMAC-SHA256, constant-time comparison and
/// base64url (RFC 4648 section 5, no padding).
public enum AuthCrypto {
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        data.withUnsafeBufferPointer { p in _ = SHA256(p.baseAddress, p.count, &out) }
        return out
    }

    public static func sha256Hex(_ s: String) -> String { hex(sha256(Array(s.utf8))) }

    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress, d.count, &out, &len)
            }
        }
        return Array(out.prefix(Int(len)))
    }

    /// CRYPTO_memcmp: the time taken does not depend on where the inputs differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0 }
        }
    }

    public static func randomBytes(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        precondition(RAND_bytes(&out, Int32(n)) == 1, "RAND_bytes failed")
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict base64url without padding; nil on any other character or an impossible length.
    public static func base64urlDecode(_ s: Substring) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in s.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"): v = 62
            case UInt8(ascii: "_"): v = 63
            default: return nil
            }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        if bits >= 6 { return nil }   // a single leftover character cannot encode a byte
        return out
    }
}

/// A new API key: `dg_` + 43 base64url characters (256 random bits). Only `hash` is stored.
public struct APIKeyMaterial: Sendable {
    public let key: String
    public let hash: String
    /// The first characters, shown in lists to recognise a key.
    public let prefix: String

    public static let marker = "dg_"

    public static func generate() -> APIKeyMaterial {
        let key = marker + Base64URL.encode(AuthCrypto.randomBytes(32))
        return APIKeyMaterial(key: key, hash: AuthCrypto.sha256Hex(key), prefix: String(key.prefix(marker.count + 8)))
    }
}
