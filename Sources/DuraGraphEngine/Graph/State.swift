import DuraGraphCore

/// The run's state: named channels. `messages` appends and merges by message id (like
/// LangGraph's add_messages); every other key is overwritten by updates.
public struct State: Sendable, Equatable {
    public var values: [String: JSON]

    public init(_ values: [String: JSON] = [:]) { self.values = values }

    public var messages: [JSON] { values["messages"]?.arrayValue ?? [] }
    public var lastMessage: JSON? { messages.last }

    public mutating func apply(_ update: [String: JSON]) {
        for (k, v) in update {
            if k == "messages" {
                values["messages"] = .array(Self.mergeMessages(messages, v.arrayValue ?? [v]))
            } else {
                values[k] = v
            }
        }
    }

    /// An update with its messages normalized and given ids, so events and checkpoints show the
    /// same ids the state keeps.
    public static func prepare(_ update: [String: JSON]) -> [String: JSON] {
        guard let m = update["messages"] else { return update }
        var u = update
        u["messages"] = .array((m.arrayValue ?? [m]).map { raw in
            var o = normalize(raw)
            if o["id"] == nil { o["id"] = .string(Random.uuid()) }
            return .object(o)
        })
        return u
    }

    /// Appends messages, replacing any existing message with the same id; gives ids to those without.
    public static func mergeMessages(_ current: [JSON], _ incoming: [JSON]) -> [JSON] {
        var out = current
        var index: [String: Int] = [:]
        for (i, m) in out.enumerated() { if let id = m["id"]?.stringValue { index[id] = i } }
        for raw in incoming {
            var m = normalize(raw)
            if m["id"] == nil { m["id"] = .string(Random.uuid()) }
            let id = m["id"]!.stringValue ?? ""
            if let i = index[id] { out[i] = .object(m) } else { index[id] = out.count; out.append(.object(m)) }
        }
        return out
    }

    /// Messages are stored as {id, role, content, ...}. A bare string is a user message; LangChain
    /// dicts ({type: human|ai|tool|system}) are accepted and given the matching role.
    public static func normalize(_ m: JSON) -> [String: JSON] {
        switch m {
        case .string(let s): return ["role": "user", "content": .string(s)]
        case .object(var o):
            if o["role"] == nil, let t = o["type"]?.stringValue {
                o["role"] = .string(["human": "user", "ai": "assistant", "tool": "tool", "system": "system"][t] ?? t)
            }
            if let r = o["role"]?.stringValue { o["role"] = .string(["human": "user", "ai": "assistant"][r] ?? r) }
            o.removeValue(forKey: "type")
            if o["content"] == nil { o["content"] = "" }
            return o
        default: return ["role": "user", "content": .string(m.description)]
        }
    }

    /// The text of a message: its string content, or its text parts joined.
    public static func text(of m: JSON?) -> String {
        guard let c = m?["content"] else { return "" }
        switch c {
        case .string(let s): return s
        case .array(let parts):
            return parts.compactMap { p -> String? in
                if let s = p.stringValue { return s }
                return p["text"]?.stringValue
            }.joined()
        default: return ""
        }
    }
}
