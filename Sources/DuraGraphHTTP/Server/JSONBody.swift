import DuraGraphCore

extension HTTPRequest {
    /// The body as a JSON object. Wrong content type or malformed JSON is a 400 invalid_request.
    /// An empty body reads as {} when `allowEmpty`.
    public func jsonObject(allowEmpty: Bool = false) throws(HTTPError) -> [String: JSON] {
        if body.isEmpty || body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            if allowEmpty { return [:] }
            throw .invalidRequest("Request body is required")
        }
        if let ct = header("content-type"), !ct.lowercased().hasPrefix("application/json"),
           !ct.lowercased().contains("+json") {
            throw .invalidRequest("Content-Type must be application/json", details: ["content_type": .string(ct)])
        }
        let v: JSON
        do { v = try JSON.parse(body) } catch {
            throw .invalidRequest("Malformed JSON: \(error.description)")
        }
        guard case .object(let o) = v else { throw .invalidRequest("Request body must be a JSON object") }
        return o
    }
}
