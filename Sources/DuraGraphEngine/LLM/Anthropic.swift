import DuraGraphCore

/// Anthropic Messages API with streaming.
enum Anthropic {
    static func chat(_ req: LLMRequest, baseURL: String, key: String, timeout: Double,
                     onToken: (String) -> Void, shouldStop: @escaping () -> Bool) throws -> LLMReply {
        var messages: [JSON] = []
        for m in req.messages {
            let role = m["role"]?.stringValue ?? "user"
            if role == "system" { continue }
            if role == "tool" {
                let block: JSON = ["type": "tool_result", "tool_use_id": m["tool_call_id"] ?? "", "content": .string(State.text(of: m))]
                // Consecutive tool results travel in one user message.
                if case .object(var last)? = messages.last, last["role"] == "user", case .array(var blocks)? = last["content"],
                   blocks.first?["type"] == "tool_result" {
                    blocks.append(block)
                    last["content"] = .array(blocks)
                    messages[messages.count - 1] = .object(last)
                } else {
                    messages.append(["role": "user", "content": [block]])
                }
                continue
            }
            if role == "assistant", let calls = m["tool_calls"]?.arrayValue, !calls.isEmpty {
                var blocks: [JSON] = []
                let t = State.text(of: m)
                if !t.isEmpty { blocks.append(["type": "text", "text": .string(t)]) }
                for c in calls { blocks.append(["type": "tool_use", "id": c["id"] ?? "", "name": c["name"] ?? "", "input": c["args"] ?? [:]]) }
                messages.append(["role": "assistant", "content": .array(blocks)])
                continue
            }
            messages.append(["role": .string(role == "assistant" ? "assistant" : "user"), "content": .string(State.text(of: m))])
        }
        var system = req.system ?? ""
        for m in req.messages where m["role"]?.stringValue == "system" { system += (system.isEmpty ? "" : "\n") + State.text(of: m) }
        var body: [String: JSON] = ["model": .string(req.model), "messages": .array(messages), "stream": true,
                                    "max_tokens": .int(Int64(req.maxTokens ?? 1024))]
        if !system.isEmpty { body["system"] = .string(system) }
        if let t = req.temperature { body["temperature"] = .double(t) }
        if !req.tools.isEmpty {
            body["tools"] = .array(req.tools.map { t in
                ["name": t["name"] ?? "", "description": t["description"] ?? "",
                 "input_schema": t["parameters"] ?? ["type": "object", "properties": [:]]]
            })
        }
        var text = ""
        var blocks: [Int: (type: String, id: String, name: String, json: String)] = [:]
        var usage = (0, 0)
        var parser = SSEParser()
        var streamError: String?
        let url = baseURL.trimmingCharacters(in: "/") + "/v1/messages"
        let response: HTTPClient.Response
        do {
            response = try withoutActuallyEscaping(onToken) { onToken in
                try HTTPClient.post(url: url, headers: ["Content-Type: application/json", "Accept: text/event-stream",
                                                        "x-api-key: \(key)", "anthropic-version: 2023-06-01"],
                                    body: JSON.object(body).description, timeout: timeout, onData: { chunk in
                    parser.feed(chunk) { event, data in
                        guard let ev = try? JSON.parse(data) else { return }
                        let type = ev["type"]?.stringValue ?? event
                        let i = Int(ev["index"]?.intValue ?? 0)
                        switch type {
                        case "message_start":
                            usage.0 = Int(ev["message"]?["usage"]?["input_tokens"]?.intValue ?? 0)
                        case "content_block_start":
                            let b = ev["content_block"]
                            blocks[i] = (b?["type"]?.stringValue ?? "text", b?["id"]?.stringValue ?? "", b?["name"]?.stringValue ?? "", "")
                        case "content_block_delta":
                            let d = ev["delta"]
                            if let t = d?["text"]?.stringValue, !t.isEmpty { text += t; onToken(t) }
                            if let p = d?["partial_json"]?.stringValue { blocks[i]?.json += p }
                        case "message_delta":
                            usage.1 = Int(ev["usage"]?["output_tokens"]?.intValue ?? Int64(usage.1))
                        case "error":
                            streamError = ev["error"]?["message"]?.stringValue ?? data
                        default: break
                        }
                    }
                }, shouldStop: shouldStop)
            }
        } catch {
            throw ProviderError.transport(error, provider: "anthropic")
        }
        guard (200..<300).contains(response.status) else { throw ProviderError.from(response, provider: "anthropic") }
        if let e = streamError { throw ProviderError(status: 200, message: "anthropic stream error: \(e)", retryable: false) }
        var message: [String: JSON] = ["role": "assistant", "content": .string(text)]
        let uses = blocks.keys.sorted().compactMap { k -> JSON? in
            let b = blocks[k]!
            guard b.type == "tool_use" else { return nil }
            return ["id": .string(b.id), "name": .string(b.name), "args": (try? JSON.parse(b.json.isEmpty ? "{}" : b.json)) ?? [:]]
        }
        if !uses.isEmpty { message["tool_calls"] = .array(uses) }
        return LLMReply(message: .object(message), inputTokens: usage.0, outputTokens: usage.1)
    }
}
