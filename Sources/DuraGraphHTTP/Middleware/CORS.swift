/// Cross-origin access for browser apps on another origin (LangGraph Studio, a team's own UI):
/// preflights are answered before authentication (they carry no credentials), and every response
/// to an allowed Origin names it. Origins not listed get no CORS headers, so browsers refuse them.
public struct CORSPolicy: Sendable {
    /// Exact origins ("https://smith.langchain.com"), or "*" for any.
    public let origins: [String]

    public init(origins: [String]) { self.origins = origins }

    public var isActive: Bool { !origins.isEmpty }

    func allows(_ origin: String) -> Bool { origins.contains("*") || origins.contains(origin) }

    static let methods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    /// Headers a browser script may read: the ones the LangGraph client follows.
    static let exposed = "Content-Location, Location, X-Request-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining"

    /// A preflight's answer, or nil when the request is not a preflight from an allowed origin.
    func preflight(_ req: HTTPRequest) -> HTTPResponse? {
        guard req.method == "OPTIONS", req.header("access-control-request-method") != nil,
              let origin = req.header("origin"), allows(origin) else { return nil }
        var r = HTTPResponse.empty(204)
        r.headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                     ("Access-Control-Allow-Methods", Self.methods),
                     ("Access-Control-Allow-Headers", req.header("access-control-request-headers") ?? "*"),
                     ("Access-Control-Allow-Credentials", "true"), ("Access-Control-Max-Age", "600")]
        return r
    }

    /// Headers for an ordinary response to `req`.
    func headers(_ req: HTTPRequest) -> [(String, String)] {
        guard let origin = req.header("origin"), allows(origin) else { return [] }
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"), ("Access-Control-Allow-Credentials", "true"),
                ("Access-Control-Expose-Headers", Self.exposed)]
    }
}
