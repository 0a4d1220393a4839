import DuraGraphCore

public struct HTTPRequest: Sendable {
    public let method: String
    /// Percent-decoded path without the query string.
    public let path: String
    /// Percent-decoded query parameters; a key may repeat.
    public let query: [(String, String)]
    /// Lower-cased header names.
    public let headers: [String: String]
    public let body: [UInt8]
    public let requestID: String
    public let remoteAddress: String
    /// Filled by the router.
    public var pathParams: [String: String] = [:]
    public var routeTemplate: String = ""

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
    public func queryValue(_ key: String) -> String? { query.last(where: { $0.0 == key })?.1 }
    public func queryValues(_ key: String) -> [String] { query.filter { $0.0 == key }.map(\.1) }
    public func param(_ name: String) -> String { pathParams[name] ?? "" }
}

/// A response body produced over time (Server-Sent Events). The server reads it when the client
/// can take data and suspends the connection (no thread held) while `read` has nothing.
public protocol StreamSource: AnyObject, Sendable {
    /// Called by the server once: `wake` resumes the connection when new data is ready.
    func start(wake: @escaping @Sendable () -> Void)
    /// Up to `max` bytes now; [] = nothing yet (the connection sleeps until wake); nil = the end.
    func read(max: Int) -> [UInt8]?
    /// The connection is gone (finished or the client left).
    func finish()
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// When set, the body is streamed from it instead of `body`.
    public var stream: StreamSource?

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int, _ value: JSON, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers,
                     body: value.utf8Bytes)
    }

    public static func text(_ status: Int, _ s: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", contentType)], body: Array(s.utf8))
    }

    public static func empty(_ status: Int) -> HTTPResponse { HTTPResponse(status: status) }

    public static func eventStream(_ source: StreamSource, headers: [(String, String)] = []) -> HTTPResponse {
        var r = HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                                    ("X-Accel-Buffering", "no")] + headers)
        r.stream = source
        return r
    }

    public func header(_ name: String) -> String? {
        headers.last(where: { $0.0.lowercased() == name.lowercased() })?.1
    }
}
