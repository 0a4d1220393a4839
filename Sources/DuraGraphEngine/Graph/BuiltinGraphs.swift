import DuraGraphCore

/// The graphs every assistant can name by graph_id.
public enum BuiltinGraphs {
    public static let definitions: [String: JSON] = [
        // echo: one node, no LLM. For demos, tests and benchmarks.
        "echo": ["entry": "echo", "nodes": ["echo": ["type": "echo"]], "edges": []],
        // agent: the LLM, and while its reply has tool calls, the tools, then the LLM again.
        "agent": [
            "entry": "agent",
            "nodes": ["agent": ["type": "llm"], "tools": ["type": "tool"]],
            "edges": [
                ["from": "agent", "to": "tools", "when": ["tool_calls": true]],
                ["from": "agent", "to": "__end__"],
                ["from": "tools", "to": "agent"],
            ],
        ],
    ]

    public static var ids: [String] { definitions.keys.sorted() }

    /// The graph an assistant runs: config.graph when given (a user-defined graph), else the
    /// built-in named by graph_id.
    public static func resolve(graphID: String, config: [String: JSON]) throws(GraphError) -> Graph {
        if let custom = config["graph"], custom != .null { return try Graph.parse(custom) }
        guard let def = definitions[graphID] else { throw GraphError("unknown graph_id \(graphID)") }
        return try Graph.parse(def)
    }
}
