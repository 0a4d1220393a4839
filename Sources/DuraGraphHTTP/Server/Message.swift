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

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int, _ value: JSON, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers,
                     body: Array(value.description.utf8))
    }

    public static func text(_ status: Int, _ s: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", contentType)], body: Array(s.utf8))
    }

    public static func empty(_ status: Int) -> HTTPResponse { HTTPResponse(status: status) }

    public func header(_ name: String) -> String? {
        headers.last(where: { $0.0.lowercased() == name.lowercased() })?.1
    }
}
