import DuraGraphCore

/// A graph is data: named nodes, edges (plain or conditional), an entry point and a recursion
/// limit. Built-in graphs are written in the same form (BuiltinGraphs), and users can give one in
/// an assistant's config under "graph".
public struct Graph: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Appends an AI message "echo: <text of the last message>".
        case echo
        /// Calls the configured LLM with the messages (and tools); appends its reply.
        case llm
        /// Runs the tool calls of the last AI message; client-side tools pause the run
        /// (requires_action) until their outputs are submitted.
        case tool
        /// Pauses for human input (requires_action); the resume value is added to the state.
        case human
        /// Sets state keys to fixed values ("set") and/or appends a message ("message").
        case transform
        /// Does nothing; its outgoing conditional edges choose the way.
        case router
        /// Ends the run.
        case end
    }

    public struct Node: Sendable, Equatable {
        public let name: String
        public let kind: Kind
        public let config: [String: JSON]
    }

    /// A condition on the state after the source node ran.
    public enum Condition: Sendable, Equatable {
        /// The last message has tool calls (true) or has none (false).
        case toolCalls(Bool)
        /// state[key] == value
        case equals(key: String, value: JSON)
        /// The last message's text contains the string.
        case lastMessageContains(String)
    }

    public struct Edge: Sendable, Equatable {
        public let from: String
        public let to: String
        public let when: Condition?
    }

    public static let endNode = "__end__"
    public static let defaultRecursionLimit = 25

    public let entry: String
    public let nodes: [String: Node]
    public let edges: [Edge]
    public let recursionLimit: Int

    /// The node to run after `node`, given the state: the first edge from it whose condition holds.
    /// nil = the run is done.
    public func next(after node: String, state: State) -> String? {
        if nodes[node]?.kind == .end { return nil }
        for e in edges where e.from == node {
            if let w = e.when, !w.holds(state) { continue }
            return e.to == Self.endNode ? nil : (nodes[e.to]?.kind == .end ? nil : e.to)
        }
        return nil
    }

    /// A description for GET .../graph style endpoints: nodes and edges.
    public var shape: JSON {
        .object([
            "entry": .string(entry),
            "nodes": .array(nodes.values.sorted { $0.name < $1.name }.map { ["id": .string($0.name), "type": .string($0.kind.rawValue)] }),
            "edges": .array(edges.map { e in
                var o: [String: JSON] = ["source": .string(e.from), "target": .string(e.to)]
                o["conditional"] = .bool(e.when != nil)
                return .object(o)
            }),
        ])
    }
}

extension Graph.Condition {
    func holds(_ s: State) -> Bool {
        switch self {
        case .toolCalls(let want):
            let has = !(s.lastMessage?["tool_calls"]?.arrayValue ?? []).isEmpty
            return has == want
        case .equals(let key, let value):
            return s.values[key] == value
        case .lastMessageContains(let text):
            return State.text(of: s.lastMessage).contains(text)
        }
    }
}

public struct GraphError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

extension Graph {
    /// Parses and validates a graph definition:
    /// {"entry": "a", "nodes": {"a": {"type": "llm", ...}}, "edges": [{"from": "a", "to": "b", "when": {...}}],
    ///  "recursion_limit": 25}
    public static func parse(_ def: JSON) throws(GraphError) -> Graph {
        guard case .object(let o) = def else { throw GraphError("graph must be an object") }
        guard case .object(let rawNodes)? = o["nodes"], !rawNodes.isEmpty else {
            throw GraphError("graph.nodes must be a non-empty object of name -> node")
        }
        var nodes: [String: Node] = [:]
        for (name, raw) in rawNodes {
            guard !name.isEmpty, name != endNode, name.count <= 100 else { throw GraphError("graph.nodes: invalid node name \"\(name)\"") }
            guard case .object(let n) = raw, let t = n["type"]?.stringValue else {
                throw GraphError("graph.nodes.\(name) needs a \"type\"")
            }
            guard let kind = Kind(rawValue: t == "interrupt" ? "human" : (t == "condition" ? "router" : t)) else {
                throw GraphError("graph.nodes.\(name).type \"\(t)\" is unknown (known: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if kind == .transform, let set = n["set"], set.objectValue == nil {
                throw GraphError("graph.nodes.\(name).set must be an object")
            }
            nodes[name] = Node(name: name, kind: kind, config: n)
        }
        guard let entry = o["entry"]?.stringValue else { throw GraphError("graph.entry is required") }
        guard nodes[entry] != nil else { throw GraphError("graph.entry \"\(entry)\" is not a node") }
        var edges: [Edge] = []
        for (i, raw) in (o["edges"]?.arrayValue ?? []).enumerated() {
            guard case .object(let e) = raw, let from = e["from"]?.stringValue, let to = e["to"]?.stringValue else {
                throw GraphError("graph.edges[\(i)] needs \"from\" and \"to\"")
            }
            guard nodes[from] != nil else { throw GraphError("graph.edges[\(i)].from \"\(from)\" is not a node") }
            guard nodes[to] != nil || to == endNode else { throw GraphError("graph.edges[\(i)].to \"\(to)\" is not a node") }
            var cond: Condition?
            if let w = e["when"], w != .null {
                guard case .object(let c) = w else { throw GraphError("graph.edges[\(i)].when must be an object") }
                if let b = c["tool_calls"]?.boolValue { cond = .toolCalls(b) }
                else if let k = c["key"]?.stringValue, let v = c["equals"] { cond = .equals(key: k, value: v) }
                else if let s = c["last_message_contains"]?.stringValue { cond = .lastMessageContains(s) }
                else { throw GraphError("graph.edges[\(i)].when must have tool_calls, key+equals, or last_message_contains") }
            }
            edges.append(Edge(from: from, to: to, when: cond))
        }
        var limit = defaultRecursionLimit
        if let l = o["recursion_limit"] {
            guard let v = l.intValue, (1...1000).contains(v) else { throw GraphError("graph.recursion_limit must be 1-1000") }
            limit = Int(v)
        }
        // Every node must be reachable from the entry; a node other than end with no way out is a dead end.
        var seen: Set<String> = [entry]
        var todo = [entry]
        while let n = todo.popLast() {
            for e in edges where e.from == n && e.to != endNode && !seen.contains(e.to) { seen.insert(e.to); todo.append(e.to) }
        }
        if let lost = nodes.keys.sorted().first(where: { !seen.contains($0) }) {
            throw GraphError("graph node \"\(lost)\" is not reachable from the entry \"\(entry)\"")
        }
        return Graph(entry: entry, nodes: nodes, edges: edges, recursionLimit: limit)
    }
}
