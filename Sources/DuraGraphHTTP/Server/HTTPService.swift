import DuraGraphCore

/// Router + error rendering + X-Request-ID + access log + an observer for metrics.
public final class HTTPService: Sendable {
    public typealias Observer = @Sendable (_ method: String, _ route: String, _ status: Int, _ seconds: Double) -> Void

    let router: Router
    let observer: Observer?
    /// Renders an error for a path; lets the LangGraph surface use its own error shape.
    let renderError: @Sendable (HTTPRequest, HTTPError) -> HTTPResponse
    let accessLog: Bool
    /// Authentication and rate limits (Middleware/RequestGate.swift); nil: everything passes.
    let gate: RequestGate?
    /// Cross-origin browser access (Middleware/CORS.swift); nil: none.
    let cors: CORSPolicy?

    public init(router: Router, accessLog: Bool = true, observer: Observer? = nil, gate: RequestGate? = nil, cors: CORSPolicy? = nil,
                renderError: @escaping @Sendable (HTTPRequest, HTTPError) -> HTTPResponse = { _, e in e.response }) {
        self.router = router
        self.gate = gate
        self.cors = cors
        self.observer = observer
        self.renderError = renderError
        self.accessLog = accessLog
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let start = Clock.monotonic()
        var req = request
        var resp: HTTPResponse
        let match = router.match(method: req.method, path: req.path)
        if case .found(let route, _) = match { req.routeTemplate = route.template } else { req.routeTemplate = "unmatched" }
        var gateHeaders: [(String, String)] = []
        var denied: HTTPError?
        let preflight = cors?.preflight(req)
        if preflight == nil {
            switch gate?.admit(req) {
            case .allow(let h)?: gateHeaders = h
            case .deny(let e)?: denied = e
            case nil: break
            }
        }
        if let p = preflight {
            req.routeTemplate = "preflight"
            resp = p
        } else if let e = denied {
            resp = renderError(req, e)
        } else {
            resp = dispatch(match, &req)
        }
        resp.headers.append(contentsOf: gateHeaders)
        if preflight == nil, let c = cors { resp.headers.append(contentsOf: c.headers(req)) }
        if req.method == "HEAD" { resp.body = [] }
        resp.headers.append(("X-Request-ID", req.requestID))
        let seconds = Clock.monotonic() - start
        observer?(req.method, req.routeTemplate, resp.status, seconds)
        if accessLog {
            Log.info("http", ["method": .string(req.method), "path": .string(req.path), "route": .string(req.routeTemplate),
                              "status": .int(Int64(resp.status)), "ms": .double((seconds * 100_000).rounded() / 100),
                              "bytes": .int(Int64(resp.body.count)), "request_id": .string(req.requestID)])
        }
        return resp
    }

    private func dispatch(_ match: Router.Match, _ req: inout HTTPRequest) -> HTTPResponse {
        switch match {
        case .found(let route, let params):
            req.pathParams = params
            req.routeTemplate = route.template
            do {
                return try route.handler(req)
            } catch let e as HTTPError {
                return renderError(req, e)
            } catch {
                return renderError(req, Self.map(error, request: req))
            }
        case .methodNotAllowed(let allowed):
            req.routeTemplate = "unmatched"
            var e = HTTPError(405, "method_not_allowed", "Method \(req.method) is not allowed on this path",
                              details: ["allowed": .array(allowed.map(JSON.string))])
            e.headers = [("Allow", allowed.joined(separator: ", "))]
            return renderError(req, e)
        case .notFound:
            req.routeTemplate = "unmatched"
            return renderError(req, HTTPError(404, "resource_not_found", "No route for \(req.method) \(req.path)",
                                              details: ["path": .string(req.path)]))
        }
    }

    /// Unknown errors: a database outage is a 503; anything else a 500 that leaks nothing.
    static func map(_ error: Error, request: HTTPRequest) -> HTTPError {
        if let d = error as? DatabaseUnavailable, d.isUnavailable {
            return .unavailable
        }
        Log.error("unhandled error", ["error": .string(String(describing: error)), "request_id": .string(request.requestID),
                                      "route": .string(request.routeTemplate)])
        return .internalError
    }
}

