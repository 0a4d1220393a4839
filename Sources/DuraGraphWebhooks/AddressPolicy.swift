import DuraGraphCore
import Glibc

/// The SSRF guard: webhook URLs may only reach public addresses, unless WEBHOOK_ALLOWED_CIDRS
/// admits them. It judges the addresses a hostname resolves to at send time, and the sender then
/// connects to exactly the address that was judged (no second DNS lookup to rebind).
public struct AddressPolicy: Sendable {
    struct CIDR: Sendable {
        let bytes: [UInt8]
        let bits: Int
        func contains(_ a: [UInt8]) -> Bool {
            guard a.count == bytes.count else { return false }
            var left = bits
            for i in 0..<a.count {
                if left <= 0 { return true }
                let mask: UInt8 = left >= 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - left))
                if a[i] & mask != bytes[i] & mask { return false }
                left -= 8
            }
            return true
        }
    }

    let allowed: [CIDR]

    /// "127.0.0.0/8,::1/128"; empty = nothing extra allowed.
    public init(allowedCIDRs: String) throws(ConfigError) {
        var out: [CIDR] = []
        for raw in allowedCIDRs.split(separator: ",") {
            let item = raw.trimmingSpaces()
            if item.isEmpty { continue }
            let parts = item.split(separator: "/", maxSplits: 1).map(String.init)
            guard let addr = Self.parse(parts[0]) else { throw ConfigError("WEBHOOK_ALLOWED_CIDRS: \"\(item)\" is not an address/prefix") }
            let bits = parts.count == 2 ? Int(parts[1]) : addr.count * 8
            guard let bits, bits >= 0, bits <= addr.count * 8 else { throw ConfigError("WEBHOOK_ALLOWED_CIDRS: bad prefix in \"\(item)\"") }
            out.append(CIDR(bytes: addr, bits: bits))
        }
        allowed = out
    }

    static let blocked: [CIDR] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
    ].map { s in
        let p = s.split(separator: "/")
        return CIDR(bytes: parse(String(p[0]))!, bits: Int(p[1])!)
    }

    /// Whether the address may be connected to.
    public func permits(_ address: [UInt8]) -> Bool {
        if allowed.contains(where: { $0.contains(address) }) { return true }
        var a = address
        // An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
        if a.count == 16, a[0..<10].allSatisfy({ $0 == 0 }), a[10] == 0xFF, a[11] == 0xFF {
            a = Array(a[12..<16])
            if allowed.contains(where: { $0.contains(a) }) { return true }
        }
        return !Self.blocked.contains { $0.contains(a) }
    }

    public static func parse(_ s: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, s, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    public static func format(_ a: [UInt8]) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        var bytes = a
        _ = inet_ntop(a.count == 4 ? AF_INET : AF_INET6, &bytes, &buf, 64)
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public enum Resolution: Sendable {
        case address(String)
        case refused(String)
        case failed(String)
    }

    /// Resolves `host` and picks the first address; refuses when any resolved address is not
    /// permitted (a name that resolves to a mix of public and private addresses is refused too).
    public func resolve(_ host: String) -> Resolution {
        if let literal = Self.parse(host) {
            return permits(literal) ? .address(Self.format(literal)) : .refused("address \(host) is not public")
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &res)
        guard rc == 0, let first = res else { return .failed("cannot resolve \(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(first) }
        var addrs: [[UInt8]] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if ai.pointee.ai_family == AF_INET {
                ai.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var a = sin.pointee.sin_addr
                    addrs.append(withUnsafeBytes(of: &a) { Array($0) })
                }
            } else if ai.pointee.ai_family == AF_INET6 {
                ai.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    var a = sin.pointee.sin6_addr
                    addrs.append(withUnsafeBytes(of: &a) { Array($0) })
                }
            }
            p = ai.pointee.ai_next
        }
        guard let pick = addrs.first else { return .failed("no address for \(host)") }
        if let bad = addrs.first(where: { !permits($0) }) {
            return .refused("\(host) resolves to \(Self.format(bad)), which is not public")
        }
        return .address(Self.format(pick))
    }
}
