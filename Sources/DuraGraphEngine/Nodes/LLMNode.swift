import DuraGraphCore

/// An llm node: the assistant's model (node config overrides) over the state's messages, with the
/// assistant's tools. Tokens become llm.token events as they arrive.
enum LLMNode {
    static func run(_ node: Graph.Node, state: State, ctx: StepContext) throws -> StepOutcome {
        var cfg = ctx.assistantConfig
        // LangGraph assistants carry their settings in config.configurable.
        for (k, v) in cfg["configurable"]?.objectValue ?? [:] where cfg[k] == nil { cfg[k] = v }
        for (k, v) in node.config where k != "type" { cfg[k] = v }
        let model = cfg["model"]?.stringValue ?? "gpt-4o-mini"
        let provider = cfg["provider"]?.stringValue ?? (model.hasPrefix("claude") ? "anthropic" : "openai")
        let req = LLMRequest(provider: provider, model: model, temperature: cfg["temperature"]?.doubleValue,
                             maxTokens: cfg["max_tokens"]?.intValue.map { Int($0) },
                             system: cfg["system_prompt"]?.stringValue ?? cfg["system"]?.stringValue,
                             messages: state.messages, tools: cfg["tools"]?.arrayValue ?? [])
        let reply = try ctx.llm.chat(req, onToken: { ctx.emit("llm.token", ["token": .string($0), "node": .string(node.name)]) },
                                     shouldStop: { ctx.shouldStop })
        var m = reply.message.objectValue ?? [:]
        m["id"] = .string(Random.uuid())
        m["usage"] = ["input_tokens": .int(Int64(reply.inputTokens)), "output_tokens": .int(Int64(reply.outputTokens))]
        return .update(["messages": [.object(m)]])
    }
}
