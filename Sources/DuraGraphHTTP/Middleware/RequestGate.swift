import DuraGraphCore

/// A check every request passes before its handler runs (authentication, rate limits). It sees
/// the request after routing (so metrics keep the route label) and applies to every route,
/// including unknown paths, so nothing is reachable around it.
public protocol RequestGate: Sendable {
    func admit(_ request: HTTPRequest) -> GateDecision
}

public enum GateDecision: Sendable {
    /// Go on; the headers are added to the response, whatever it turns out to be.
    case allow(headers: [(String, String)])
    /// Answer with this error instead (its headers included).
    case deny(HTTPError)
}

/// Permission levels: read (GET/HEAD/OPTIONS), write (everything but admin routes), admin (everything).
public enum Scope: Int, Sendable, Comparable, CustomStringConvertible {
    case read = 0, write = 1, admin = 2

    public init?(name: String) {
        switch name {
        case "read": self = .read
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }

    public var description: String { ["read", "write", "admin"][rawValue] }
    public static func < (a: Scope, b: Scope) -> Bool { a.rawValue < b.rawValue }

    /// The scope a call needs: admin for admin paths, read for safe methods, else write.
    public static func required(method: String, path: String, adminPrefixes: [String]) -> Scope {
        if adminPrefixes.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) { return .admin }
        switch method {
        case "GET", "HEAD", "OPTIONS": return .read
        default: return .write
        }
    }
}

/// Credentials of a request: `Authorization: Bearer <token>` or `X-API-Key: <token>`.
public enum Credential: Sendable, Equatable {
    case none
    case malformed
    case token(String)

    public static func of(_ req: HTTPRequest) -> Credential {
        if let auth = req.header("authorization") {
            let parts = auth.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .malformed }
            let t = parts[1].trimmingSpaces()
            return t.isEmpty ? .malformed : .token(t)
        }
        if let key = req.header("x-api-key") {
            let t = key.trimmingSpaces()
            return t.isEmpty ? .malformed : .token(t)
        }
        return .none
    }
}

extension HTTPError {
    public static func unauthorized(_ m: String) -> HTTPError {
        var e = HTTPError(401, "unauthorized", m)
        e.headers = [("WWW-Authenticate", "Bearer")]
        return e
    }
    public static func forbidden(_ m: String, required: Scope, granted: Scope) -> HTTPError {
        HTTPError(403, "forbidden", m, details: ["required_scope": .string(required.description),
                                                  "granted_scope": .string(granted.description)])
    }
}
