import DuraGraphCore

/// What a node sees while it runs. The scheduler implements it: events go to the run's log.
public protocol StepContext: AnyObject {
    /// Appends an event (llm.token, tool.call, ...) to the run's ordered log.
    func emit(_ type: String, _ data: JSON)
    /// True once the run has been cancelled or timed out: long steps stop early.
    var shouldStop: Bool { get }
    /// The assistant's config (model, temperature, system_prompt, tools, ...).
    var assistantConfig: [String: JSON] { get }
    /// Tool outputs or human input that resume the paused node, if this step is a resumption.
    var resume: JSON? { get }
    /// The LLM client for llm nodes.
    var llm: LLMClient { get }
}

public enum StepOutcome: Sendable {
    /// The node finished: apply this update to the state.
    case update([String: JSON])
    /// The node needs input from outside: the run waits in requires_action with this description.
    case pause(requiredAction: JSON)
}

public struct StepError: Error, CustomStringConvertible, Sendable {
    public let code: String
    public let description: String
    public init(_ code: String, _ description: String) { self.code = code; self.description = description }
}

public enum Nodes {
    /// Runs one node against the state.
    public static func run(_ node: Graph.Node, state: State, ctx: StepContext) throws -> StepOutcome {
        switch node.kind {
        case .echo:
            return .update(["messages": [["role": "assistant", "content": .string("echo: " + State.text(of: state.lastMessage))]]])
        case .router, .end:
            return .update([:])
        case .transform:
            var update = node.config["set"]?.objectValue ?? [:]
            if let m = node.config["message"] { update["messages"] = [m] }
            return .update(update)
        case .human:
            if let input = ctx.resume {
                if case .object(let o) = input, o["messages"] != nil || o["role"] == nil { return .update(o) }
                return .update(["messages": [input.stringValue.map { JSON.object(["role": "user", "content": .string($0)]) } ?? input]])
            }
            var action: [String: JSON] = ["type": "human_input", "node": .string(node.name)]
            if let p = node.config["prompt"] { action["prompt"] = p }
            return .pause(requiredAction: .object(action))
        case .tool:
            return try ToolNode.run(node, state: state, ctx: ctx)
        case .llm:
            return try LLMNode.run(node, state: state, ctx: ctx)
        }
    }
}

enum ToolNode {
    static func run(_ node: Graph.Node, state: State, ctx: StepContext) throws -> StepOutcome {
        let calls = state.lastMessage?["tool_calls"]?.arrayValue ?? []
        if calls.isEmpty { return .update([:]) }
        if let outputs = ctx.resume?.arrayValue {
            // One tool message per call, in the order of the calls.
            var byID: [String: JSON] = [:]
            for o in outputs { if let id = o["tool_call_id"]?.stringValue { byID[id] = o["output"] ?? .null } }
            let messages: [JSON] = calls.map { c in
                let id = c["id"]?.stringValue ?? ""
                let out = byID[id] ?? .null
                return ["role": "tool", "tool_call_id": .string(id), "name": c["name"] ?? .null,
                        "content": .string(out.stringValue ?? out.description)]
            }
            return .update(["messages": .array(messages)])
        }
        for c in calls { ctx.emit("tool.call", c) }
        return .pause(requiredAction: ["type": "submit_tool_outputs", "tool_calls": .array(calls)])
    }
}
