import COpenSSL
import DuraGraphCore

/// Standard Webhooks signatures: webhook-signature = "v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>",
/// one per active secret (space-separated) during a rotation. A "whsec_" secret's key is the
/// base64 that follows the prefix; any other secret is used as raw bytes.
public enum StandardWebhooks {
    public static func key(_ secret: String) -> [UInt8] {
        if secret.hasPrefix("whsec_"), let k = Base64URL.decode(String(secret.dropFirst(6))), !k.isEmpty { return k }
        return Array(secret.utf8)
    }

    public static func signature(id: String, timestamp: Int64, body: String, secrets: [String]) -> String {
        let message = Array("\(id).\(timestamp).\(body)".utf8)
        return secrets.map { "v1," + Base64.encode(hmacSHA256(key: key($0), message)) }.joined(separator: " ")
    }

    public static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 32
        _ = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &len)
            }
        }
        return Array(out.prefix(Int(len)))
    }

    /// whsec_ + base64 of 32 random bytes.
    public static func generateSecret() -> String { "whsec_" + Base64.encode(Random.bytes(32)) }
}

/// Standard base64 with padding.
public enum Base64 {
    public static func encode(_ bytes: [UInt8]) -> String {
        var s = Base64URL.encode(bytes).map { c -> Character in c == "-" ? "+" : (c == "_" ? "/" : c) }
        while s.count % 4 != 0 { s.append("=") }
        return String(s)
    }
}
