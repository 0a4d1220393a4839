import DuraGraphCore

public typealias HTTPHandler = @Sendable (HTTPRequest) throws -> HTTPResponse

/// Routes by method and path template ("/api/v1/runs/:run_id"). The template, never the raw path,
/// labels logs and metrics, so their cardinality stays bounded.
public final class Router: @unchecked Sendable {   // filled before the server starts, then read-only
    public struct Route: Sendable {
        public let method: String
        public let template: String
        let segments: [Substring]
        let handler: HTTPHandler
    }
    public enum Match {
        case found(Route, [String: String])
        case methodNotAllowed([String])
        case notFound
    }

    public private(set) var routes: [Route] = []
    public init() {}

    public func add(_ method: String, _ template: String, _ handler: @escaping HTTPHandler) {
        routes.append(Route(method: method, template: template,
                            segments: template.split(separator: "/", omittingEmptySubsequences: true), handler: handler))
    }
    public func get(_ t: String, _ h: @escaping HTTPHandler) { add("GET", t, h) }
    public func post(_ t: String, _ h: @escaping HTTPHandler) { add("POST", t, h) }
    public func patch(_ t: String, _ h: @escaping HTTPHandler) { add("PATCH", t, h) }
    public func put(_ t: String, _ h: @escaping HTTPHandler) { add("PUT", t, h) }
    public func delete(_ t: String, _ h: @escaping HTTPHandler) { add("DELETE", t, h) }

    public func match(method: String, path: String) -> Match {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        // Literal segments win over parameters: try routes with fewer parameters first.
        var best: (Route, [String: String], Int)?
        for r in routes {
            // A last segment "*name" takes the rest of the path (static files).
            let wildcard = r.segments.last?.hasPrefix("*") == true
            guard r.segments.count == parts.count || (wildcard && parts.count >= r.segments.count - 1) else { continue }
            var params: [String: String] = [:]
            var ok = true
            var paramCount = wildcard ? 100 : 0
            for (i, s) in r.segments.enumerated() {
                if s.hasPrefix("*") { params[String(s.dropFirst())] = parts[i...].joined(separator: "/"); break }
                let p = parts[i]
                if s.hasPrefix(":") { params[String(s.dropFirst())] = String(p); paramCount += 1 }
                else if s != p { ok = false; break }
            }
            guard ok else { continue }
            let m = method == "HEAD" ? "GET" : method
            if r.method == m {
                if best == nil || paramCount < best!.2 { best = (r, params, paramCount) }
            } else {
                allowed.append(r.method)
            }
        }
        if let best { return .found(best.0, best.1) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(Array(Set(allowed)).sorted())
    }
}
