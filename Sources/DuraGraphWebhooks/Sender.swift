import CCurl
import CShims
import DuraGraphCore
import Glibc

/// POSTs webhook bodies with one reused libcurl handle (keep-alive to repeat receivers). Each
/// worker thread owns one sender. Redirects are never followed; only http and https.
public final class WebhookSender {
    public struct Result: Sendable {
        public var status: Int?
        public var retryAfter: Double?
        public var body: String?
        public var error: String?
        public var seconds: Double
    }

    public struct Target: Sendable {
        public let scheme: String
        public let host: String
        public let port: Int
    }

    let handle: UnsafeMutableRawPointer
    let policy: AddressPolicy
    public static let userAgent = "DuraGraph-Webhooks/\(duragraphVersion)"
    static let maxResponseBytes = 1024

    public init(policy: AddressPolicy) {
        _ = Self.globalInit
        handle = curl_easy_init()!
        self.policy = policy
    }
    deinit { curl_easy_cleanup(handle) }

    static let globalInit: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    /// scheme, host and port of an http(s) URL, or nil.
    public static func target(_ url: String) -> Target? {
        guard let u = curl_url() else { return nil }
        defer { curl_url_cleanup(u) }
        guard curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK else { return nil }
        func part(_ p: CURLUPart, _ flags: UInt32 = 0) -> String? {
            var out: UnsafeMutablePointer<CChar>?
            guard curl_url_get(u, p, &out, flags) == CURLUE_OK, let out else { return nil }
            defer { curl_free(out) }
            return String(cString: out)
        }
        guard let scheme = part(CURLUPART_SCHEME)?.lowercased(), scheme == "http" || scheme == "https",
              var host = part(CURLUPART_HOST), !host.isEmpty,
              let port = part(CURLUPART_PORT, UInt32(CURLU_DEFAULT_PORT)).flatMap(Int.init) else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return Target(scheme: scheme, host: host, port: port)
    }

    final class Capture {
        var body: [UInt8] = []
        var retryAfter: String?
    }

    public func post(url: String, headers: [String], body: String, timeout: Double) -> Result {
        let start = Clock.monotonic()
        guard let t = Self.target(url) else { return Result(error: "not an http(s) URL", seconds: 0) }
        let address: String
        switch policy.resolve(t.host) {
        case .address(let a): address = a
        case .refused(let why): return Result(error: "refused: \(why)", seconds: Clock.monotonic() - start)
        case .failed(let why): return Result(error: why, seconds: Clock.monotonic() - start)
        }
        // Connect to exactly the address the policy approved.
        let pinned = address.contains(":") ? "[\(address)]" : address
        let resolve: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "\(t.host):\(t.port):\(pinned)")
        defer { curl_slist_free_all(resolve) }
        var list: UnsafeMutablePointer<curl_slist>?
        for h in headers { list = curl_slist_append(list, h) }
        list = curl_slist_append(list, "Expect:")
        defer { curl_slist_free_all(list) }
        let cap = Capture()
        let h = handle
        curl_easy_reset(h)
        let bytes = Array(body.utf8)
        return bytes.withUnsafeBufferPointer { buf in
            _ = curl_setopt_str(h, CURLOPT_URL, url)
            _ = curl_setopt_slist(h, CURLOPT_RESOLVE, resolve)
            _ = curl_setopt_str(h, CURLOPT_PROTOCOLS_STR, "http,https")
            _ = curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
            _ = curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
            _ = curl_setopt_long(h, CURLOPT_POST, 1)
            _ = curl_setopt_ptr(h, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: buf.baseAddress))
            _ = curl_setopt_long(h, CURLOPT_POSTFIELDSIZE, bytes.count)
            _ = curl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
            _ = curl_setopt_str(h, CURLOPT_USERAGENT, Self.userAgent)
            _ = curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(timeout * 1000))
            _ = curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(min(timeout, 10) * 1000))
            let ctx = Unmanaged.passUnretained(cap).toOpaque()
            _ = curl_setopt_writefn(h, { ptr, size, n, ud in
                let c = Unmanaged<Capture>.fromOpaque(ud!).takeUnretainedValue()
                let count = size * n
                let room = WebhookSender.maxResponseBytes - c.body.count
                if room > 0 { c.body.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: min(room, count))) }
                return count
            })
            _ = curl_setopt_ptr(h, CURLOPT_WRITEDATA, ctx)
            _ = curl_setopt_headerfn(h, { ptr, size, n, ud in
                let c = Unmanaged<Capture>.fromOpaque(ud!).takeUnretainedValue()
                let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: size * n), as: UTF8.self)
                if line.lowercased().hasPrefix("retry-after:") {
                    c.retryAfter = String(line.dropFirst(12)).trimmingSpaces()
                }
                return size * n
            })
            _ = curl_setopt_ptr(h, CURLOPT_HEADERDATA, ctx)
            let rc = curl_easy_perform(h)
            let seconds = Clock.monotonic() - start
            if rc != CURLE_OK {
                return Result(error: String(cString: curl_easy_strerror(rc)), seconds: seconds)
            }
            var code = 0
            _ = curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &code)
            return Result(status: code, retryAfter: cap.retryAfter.flatMap(Self.retryAfterSeconds),
                          body: String(decoding: cap.body, as: UTF8.self), seconds: seconds)
        }
    }

    /// Retry-After as seconds or an HTTP date.
    static func retryAfterSeconds(_ v: String) -> Double? {
        if let s = Double(v) { return max(0, s) }
        let when = v.withCString { dg_parse_http_date($0) }
        guard when >= 0 else { return nil }
        return max(0, Double(when) - Double(Clock.unixSeconds()))
    }
}
