import COpenSSL

public enum Random {
    public static func bytes(_ n: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: n)
        precondition(RAND_bytes(&b, Int32(n)) == 1, "RAND_bytes failed")
        return b
    }

    /// A random (version 4) UUID in canonical lower-case form.
    public static func uuid() -> String {
        var b = bytes(16)
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        let hex = b.map { let s = String($0, radix: 16); return s.count == 1 ? "0" + s : s }
        return hex[0..<4].joined() + "-" + hex[4..<6].joined() + "-" + hex[6..<8].joined() + "-"
            + hex[8..<10].joined() + "-" + hex[10..<16].joined()
    }

    /// Whether `s` is a UUID in canonical 8-4-4-4-12 hex form (any case).
    public static func isUUID(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 36 else { return false }
        for (i, c) in u.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 { if c != UInt8(ascii: "-") { return false }; continue }
            let hex = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
            if !hex { return false }
        }
        return true
    }
}

public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], table[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ s: String) -> [UInt8]? {
        var vals: [UInt8] = []
        for c in s.utf8 {
            switch c {
            case 0x41...0x5A: vals.append(c - 0x41)
            case 0x61...0x7A: vals.append(c - 0x61 + 26)
            case 0x30...0x39: vals.append(c - 0x30 + 52)
            case UInt8(ascii: "-"), UInt8(ascii: "+"): vals.append(62)
            case UInt8(ascii: "_"), UInt8(ascii: "/"): vals.append(63)
            case UInt8(ascii: "="): continue
            default: return nil
            }
        }
        if vals.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < vals.count {
            let chunk = vals[i..<min(i + 4, vals.count)]
            var n: UInt32 = 0
            for (j, v) in chunk.enumerated() { n |= UInt32(v) << (18 - 6 * UInt32(j)) }
            out.append(UInt8(n >> 16 & 0xFF))
            if chunk.count > 2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if chunk.count > 3 { out.append(UInt8(n & 0xFF)) }
            i += 4
        }
        return out
    }
}

extension Random {
    /// A name-based (version 5, SHA-1) UUID, as Python's uuid.uuid5.
    public static func uuid5(namespace: String, name: String) -> String {
        var bytes: [UInt8] = []
        let hex = Array(namespace.replacingDashes().utf8)
        var i = 0
        while i + 1 < hex.count {
            bytes.append(UInt8(String(decoding: hex[i...i + 1], as: UTF8.self), radix: 16) ?? 0)
            i += 2
        }
        bytes += Array(name.utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        _ = SHA1(bytes, bytes.count, &digest)
        var b = Array(digest.prefix(16))
        b[6] = (b[6] & 0x0F) | 0x50
        b[8] = (b[8] & 0x3F) | 0x80
        let h = b.map { let s = String($0, radix: 16); return s.count == 1 ? "0" + s : s }
        return h[0..<4].joined() + "-" + h[4..<6].joined() + "-" + h[6..<8].joined() + "-" + h[8..<10].joined() + "-" + h[10..<16].joined()
    }
}

extension String {
    func replacingDashes() -> String { String(filter { $0 != "-" }) }
}
