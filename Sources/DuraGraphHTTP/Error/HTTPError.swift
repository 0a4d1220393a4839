import DuraGraphCore

/// The one error shape of the native API: {"error": code, "message": text, "details": {...}}.
/// Handlers throw it; anything else thrown becomes a 500 `internal_error` whose body says nothing
/// about the cause (the cause goes to the log with the request id).
public struct HTTPError: Error, Sendable {
    public let status: Int
    public let code: String
    public let message: String
    public let details: [String: JSON]
    public var headers: [(String, String)] = []
    /// Extra top-level body fields (only 429 has one: retry_after).
    public var extra: [String: JSON] = [:]

    public init(_ status: Int, _ code: String, _ message: String, details: [String: JSON] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public var response: HTTPResponse {
        var body: [String: JSON] = ["error": .string(code), "message": .string(message), "details": .object(details)]
        for (k, v) in extra where body[k] == nil { body[k] = v }
        return .json(status, .object(body), headers: headers)
    }

    public static func invalidRequest(_ m: String, details: [String: JSON] = [:]) -> HTTPError {
        HTTPError(400, "invalid_request", m, details: details)
    }
    public static func validation(_ field: String, _ m: String) -> HTTPError {
        HTTPError(422, "validation_error", m, details: ["field": .string(field)])
    }
    public static func notFound(_ what: String, _ id: String? = nil) -> HTTPError {
        var d: [String: JSON] = ["resource": .string(what)]
        if let id { d["id"] = .string(id) }
        return HTTPError(404, "resource_not_found", "\(what) not found", details: d)
    }
    public static func conflict(_ m: String, details: [String: JSON] = [:]) -> HTTPError {
        HTTPError(409, "resource_conflict", m, details: details)
    }
    public static let internalError = HTTPError(500, "internal_error", "Internal server error")
    public static let unavailable = HTTPError(503, "service_unavailable", "The database is unavailable; try again shortly")
}
