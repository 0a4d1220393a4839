import DuraGraphCore

/// OpenAI-compatible chat completions with streaming (OpenAI, Ollama, vLLM, llama.cpp server).
enum OpenAI {
    static func chat(_ req: LLMRequest, baseURL: String, key: String, timeout: Double,
                     onToken: (String) -> Void, shouldStop: @escaping () -> Bool) throws -> LLMReply {
        var messages: [JSON] = []
        if let s = req.system { messages.append(["role": "system", "content": .string(s)]) }
        for m in req.messages {
            let role = m["role"]?.stringValue ?? "user"
            var o: [String: JSON] = ["role": .string(role), "content": .string(State.text(of: m))]
            if role == "tool" { o["tool_call_id"] = m["tool_call_id"] ?? "" }
            if let calls = m["tool_calls"]?.arrayValue, !calls.isEmpty {
                o["tool_calls"] = .array(calls.map { c in
                    ["id": c["id"] ?? "", "type": "function",
                     "function": ["name": c["name"] ?? "", "arguments": .string((c["args"] ?? [:]).description)]]
                })
            }
            messages.append(.object(o))
        }
        var body: [String: JSON] = ["model": .string(req.model), "messages": .array(messages), "stream": true,
                                    "stream_options": ["include_usage": true]]
        if let t = req.temperature { body["temperature"] = .double(t) }
        if let m = req.maxTokens { body["max_tokens"] = .int(Int64(m)) }
        if !req.tools.isEmpty {
            body["tools"] = .array(req.tools.map { t in
                ["type": "function", "function": ["name": t["name"] ?? "", "description": t["description"] ?? "",
                                                  "parameters": t["parameters"] ?? ["type": "object", "properties": [:]]]]
            })
        }
        var text = ""
        var calls: [Int: (id: String, name: String, args: String)] = [:]
        var usage = (0, 0)
        var parser = SSEParser()
        var streamError: String?
        let url = baseURL.trimmingCharacters(in: "/") + "/chat/completions"
        let response: HTTPClient.Response
        do {
            response = try withoutActuallyEscaping(onToken) { onToken in
                try HTTPClient.post(url: url, headers: ["Content-Type: application/json", "Accept: text/event-stream",
                                                        "Authorization: Bearer \(key)"],
                                    body: JSON.object(body).description, timeout: timeout, onData: { chunk in
                    parser.feed(chunk) { _, data in
                        if data == "[DONE]" { return }
                        guard let ev = try? JSON.parse(data) else { return }
                        if let e = ev["error"] { streamError = e["message"]?.stringValue ?? e.description; return }
                        if let u = ev["usage"], u != .null {
                            usage = (Int(u["prompt_tokens"]?.intValue ?? 0), Int(u["completion_tokens"]?.intValue ?? 0))
                        }
                        guard let delta = ev["choices"]?.arrayValue?.first?["delta"] else { return }
                        if let t = delta["content"]?.stringValue, !t.isEmpty { text += t; onToken(t) }
                        for tc in delta["tool_calls"]?.arrayValue ?? [] {
                            let i = Int(tc["index"]?.intValue ?? 0)
                            var c = calls[i] ?? ("", "", "")
                            if let id = tc["id"]?.stringValue { c.id = id }
                            if let n = tc["function"]?["name"]?.stringValue { c.name += n }
                            if let a = tc["function"]?["arguments"]?.stringValue { c.args += a }
                            calls[i] = c
                        }
                    }
                }, shouldStop: shouldStop)
            }
        } catch {
            throw ProviderError.transport(error, provider: "openai")
        }
        guard (200..<300).contains(response.status) else { throw ProviderError.from(response, provider: "openai") }
        if let e = streamError { throw ProviderError(status: 200, message: "openai stream error: \(e)", retryable: false) }
        var message: [String: JSON] = ["role": "assistant", "content": .string(text)]
        if !calls.isEmpty {
            message["tool_calls"] = .array(calls.keys.sorted().map { i in
                let c = calls[i]!
                return ["id": .string(c.id.isEmpty ? "call_\(i)" : c.id), "name": .string(c.name),
                        "args": (try? JSON.parse(c.args.isEmpty ? "{}" : c.args)) ?? ["_raw": .string(c.args)]]
            })
        }
        return LLMReply(message: .object(message), inputTokens: usage.0, outputTokens: usage.1)
    }
}
