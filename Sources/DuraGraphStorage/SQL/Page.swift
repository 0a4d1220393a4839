import DuraGraphCore

/// One page of a keyset-paginated list: newest first by (created_at, id), so rows inserted while
/// a client walks the pages never shift the pages it has not read yet.
public struct Page: Sendable {
    public let items: [JSON]
    public let nextCursor: String?
    public var hasMore: Bool { nextCursor != nil }
}

/// The opaque cursor: base64url of "<sort key>|<id>" of the last row of the previous page.
public struct Cursor: Sendable, Equatable {
    public let key: String
    public let id: String

    public init(key: String, id: String) { self.key = key; self.id = id }

    public var encoded: String { Base64URL.encode(Array("\(key)|\(id)".utf8)) }

    /// A cursor of a (created_at, uuid) list: the key must be a duragraph_ts timestamp.
    public static func timestamped(_ s: String) -> Cursor? {
        guard let c = decode(s), Random.isUUID(c.id) else { return nil }
        let k = Array(c.key.utf8)
        // YYYY-MM-DDTHH:MM:SS.ffffffZ
        guard k.count == 27, k[4] == 0x2D, k[7] == 0x2D, k[10] == 0x54, k[13] == 0x3A, k[16] == 0x3A, k[19] == 0x2E, k[26] == 0x5A else { return nil }
        for (i, b) in k.enumerated() where ![4, 7, 10, 13, 16, 19, 26].contains(i) {
            if b < 0x30 || b > 0x39 { return nil }
        }
        return c
    }

    /// A cursor of a list ordered by an integer (versions, sequence numbers).
    public static func integer(_ s: String) -> Cursor? {
        guard let c = decode(s), let v = Int64(c.key), v >= 0 else { return nil }
        return c
    }

    public static func decode(_ s: String) -> Cursor? {
        guard s.utf8.count <= 200, let bytes = Base64URL.decode(s), let text = String(validating: bytes, as: UTF8.self),
              let bar = text.lastIndex(of: "|") else { return nil }
        let key = String(text[..<bar]), id = String(text[text.index(after: bar)...])
        guard !key.isEmpty, !id.isEmpty else { return nil }
        return Cursor(key: key, id: id)
    }
}

/// Errors the stores report for the API to map onto status codes.
public enum StoreError: Error, Sendable, Equatable {
    case notFound(String)
    case conflict(String)
    /// The cursor does not belong to this list (e.g. forged or from another endpoint).
    case badCursor
}

/// A forged cursor can pass the format check and still be out of range for PostgreSQL (Feb 30,
/// a version above 2^31): data exceptions (SQLSTATE class 22) of a cursor query are a bad cursor.
func withCursor<T>(_ cursor: Cursor?, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as PGError where cursor != nil && e.sqlState?.hasPrefix("22") == true {
        throw StoreError.badCursor
    }
}

extension PGResult {
    /// Rows whose single column `obj` is a JSON object built by PostgreSQL.
    func objects() -> [JSON] { rows.compactMap { $0.first.flatMap { $0 }.flatMap { try? JSON.parse($0) } } }
}

/// Turns `limit + 1` fetched rows into a page; `keyOf` gives the cursor of the last row kept.
func makePage(_ result: PGResult, limit: Int, cursorOf: (PGRow) -> Cursor) -> Page {
    let rows = result.all
    let more = rows.count > limit
    let kept = Array(rows.prefix(limit))
    let items = kept.compactMap { $0["obj"].flatMap { try? JSON.parse($0) } }
    return Page(items: items, nextCursor: more ? kept.last.map { cursorOf($0).encoded } : nil)
}
