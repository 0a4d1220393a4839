import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage

/// Typed, validated access to a JSON request body: wrong types are 422 validation_error naming
/// the field. Unknown fields are ignored.
struct Fields {
    let o: [String: JSON]
    init(_ o: [String: JSON]) { self.o = o }

    /// Query parameters `keys` as fields: integers as numbers, anything else as text.
    init(query req: HTTPRequest, _ keys: [String]) {
        var o: [String: JSON] = [:]
        for k in keys { if let v = req.queryValue(k) { o[k] = Int64(v).map(JSON.int) ?? .string(v) } }
        self.o = o
    }

    func present(_ k: String) -> Bool { o[k] != nil }

    func string(_ k: String, required: Bool = false, max: Int = 10_000, nonEmpty: Bool = false) throws(HTTPError) -> String? {
        switch o[k] {
        case nil, .null?:
            if required { throw .validation(k, "\(k) is required") }
            return nil
        case .string(let s)?:
            if nonEmpty && s.trimmingSpaces().isEmpty { throw .validation(k, "\(k) must not be empty") }
            if s.utf8.count > max { throw .validation(k, "\(k) must be at most \(max) bytes") }
            return s
        case let v?:
            throw .validation(k, "\(k) must be a string, not \(v.typeName)")
        }
    }

    func object(_ k: String) throws(HTTPError) -> JSON? {
        switch o[k] {
        case nil, .null?: return nil
        case .object(let v)?: return .object(v)
        case let v?: throw .validation(k, "\(k) must be an object, not \(v.typeName)")
        }
    }

    func array(_ k: String, required: Bool = false) throws(HTTPError) -> [JSON]? {
        switch o[k] {
        case nil, .null?:
            if required { throw .validation(k, "\(k) is required") }
            return nil
        case .array(let a)?: return a
        case let v?: throw .validation(k, "\(k) must be an array, not \(v.typeName)")
        }
    }

    func uuid(_ k: String, required: Bool = false) throws(HTTPError) -> String? {
        guard let s = try string(k, required: required, max: 64) else { return nil }
        guard Random.isUUID(s) else { throw .validation(k, "\(k) must be a UUID") }
        return s.lowercased()
    }

    /// An integer within `range`; nil when absent.
    func int(_ k: String, in range: ClosedRange<Int>) throws(HTTPError) -> Int? {
        switch o[k] {
        case nil, .null?: return nil
        case let v?:
            guard let i = v.intValue else { throw .validation(k, "\(k) must be an integer, not \(v.typeName)") }
            guard range.contains(Int(clamping: i)) else {
                throw .validation(k, range.upperBound == .max ? "\(k) must be at least \(range.lowerBound)"
                                                              : "\(k) must be from \(range.lowerBound) to \(range.upperBound)")
            }
            return Int(i)
        }
    }

    func int(_ k: String, default d: Int, in range: ClosedRange<Int>) throws(HTTPError) -> Int {
        try int(k, in: range) ?? d
    }

    /// LangGraph's `limit` (1-`max`, default `d`) and `offset` (≥ 0) of a search body.
    func page(limit d: Int, max: Int = 1000) throws(HTTPError) -> (limit: Int, offset: Int) {
        (try int("limit", default: d, in: 1...max), try int("offset", default: 0, in: 0...Int.max))
    }

    func oneOf(_ k: String, _ allowed: [String], default d: String) throws(HTTPError) -> String {
        guard let s = try string(k, max: 64) else { return d }
        guard allowed.contains(s) else { throw .validation(k, "\(k) must be one of \(allowed.joined(separator: ", "))") }
        return s
    }
}

/// Query parameters shared by every list: limit (1-100, default 50) and an opaque cursor.
struct ListQuery {
    static let defaultLimit = 50
    static let maxLimit = 100

    let limit: Int
    let cursor: String?

    init(_ req: HTTPRequest) throws(HTTPError) {
        if let l = req.queryValue("limit") {
            guard let v = Int(l), (1...Self.maxLimit).contains(v) else {
                throw .validation("limit", "limit must be an integer from 1 to \(Self.maxLimit)")
            }
            limit = v
        } else {
            limit = Self.defaultLimit
        }
        let c = req.queryValue("cursor")
        cursor = (c?.isEmpty ?? true) ? nil : c
    }

    func timestampCursor() throws(HTTPError) -> Cursor? {
        guard let cursor else { return nil }
        guard let c = Cursor.timestamped(cursor) else { throw .validation("cursor", "cursor is not valid for this list") }
        return c
    }

    func integerCursor() throws(HTTPError) -> Cursor? {
        guard let cursor else { return nil }
        guard let c = Cursor.integer(cursor) else { throw .validation("cursor", "cursor is not valid for this list") }
        return c
    }
}

extension HTTPRequest {
    /// A path id that must be a UUID; anything else cannot exist, so it is a 404.
    func uuidParam(_ name: String, resource: String) throws(HTTPError) -> String {
        let v = param(name)
        guard Random.isUUID(v) else { throw .notFound(resource, v) }
        return v.lowercased()
    }

    /// `?metadata=<JSON object>`: containment filter.
    func metadataFilter() throws(HTTPError) -> JSON? {
        guard let m = queryValue("metadata"), !m.isEmpty else { return nil }
        guard let v = try? JSON.parse(m), case .object = v else {
            throw .validation("metadata", "metadata must be a JSON object, e.g. {\"user_id\":\"u1\"}")
        }
        return v
    }

    func enumQuery(_ name: String, _ allowed: [String]) throws(HTTPError) -> String? {
        guard let v = queryValue(name), !v.isEmpty else { return nil }
        guard allowed.contains(v) else { throw .validation(name, "\(name) must be one of \(allowed.joined(separator: ", "))") }
        return v
    }
}

func pageResponse(_ p: Page) -> HTTPResponse {
    .json(200, ["data": .array(p.items), "has_more": .bool(p.hasMore), "next_cursor": .from(p.nextCursor)])
}

/// Maps store outcomes to the native error shape.
func mapStore<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as StoreError {
        switch e {
        case .notFound(let what): throw HTTPError.notFound(what)
        case .conflict(let m): throw HTTPError.conflict(m)
        case .badCursor: throw HTTPError.validation("cursor", "cursor is not valid for this list")
        }
    }
}
