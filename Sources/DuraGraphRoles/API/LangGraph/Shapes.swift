import DuraGraphCore
import DuraGraphEngine

/// Native rows seen through LangGraph's shapes: statuses, LangChain message dicts, objects.
enum LG {
    /// LangGraph's namespace for graph-named default assistants (uuid5(ns, graph_id)).
    static let assistantNamespace = "6ba7b821-9dad-11d1-80b4-00c04fd430c8"

    static func graphAssistantID(_ graphID: String) -> String { Random.uuid5(namespace: assistantNamespace, name: graphID) }

    static func runStatus(_ run: JSON) -> String {
        switch run["status"]?.stringValue ?? "" {
        case "queued": return "pending"
        case "in_progress": return "running"
        case "completed", "requires_action": return "success"
        case "failed": return run["error"]?["code"]?.stringValue == "timeout" ? "timeout" : "error"
        case "cancelled": return "interrupted"
        default: return "pending"
        }
    }

    static func run(_ r: JSON, kwargs: JSON) -> JSON {
        ["run_id": r["run_id"] ?? .null, "thread_id": r["thread_id"] ?? .null, "assistant_id": r["assistant_id"] ?? .null,
         "created_at": r["created_at"] ?? .null, "updated_at": r["updated_at"] ?? .null, "status": .string(runStatus(r)),
         "metadata": r["metadata"] ?? [:], "kwargs": kwargs, "multitask_strategy": r["multitask_strategy"] ?? "enqueue"]
    }

    static func assistant(_ a: JSON) -> JSON {
        guard case .object(var o) = a else { return a }
        o["context"] = o["config"]?["context"] ?? [:]
        return .object(o)
    }

    static func thread(_ t: JSON) -> JSON {
        guard case .object(var o) = t else { return t }
        if let v = o["values"], v != .null { o["values"] = values(v) }
        return .object(o)
    }

    /// A native message {role, content, id, tool_calls?} as a LangChain dict.
    static func message(_ m: JSON) -> JSON {
        let role = m["role"]?.stringValue ?? "user"
        let type = ["user": "human", "assistant": "ai", "tool": "tool", "system": "system"][role] ?? role
        var o: [String: JSON] = ["content": m["content"] ?? "", "additional_kwargs": [:], "response_metadata": [:],
                                 "type": .string(type), "name": m["name"] ?? .null, "id": m["id"] ?? .null, "example": false]
        if type == "ai" {
            o["tool_calls"] = .array((m["tool_calls"]?.arrayValue ?? []).map {
                ["name": $0["name"] ?? "", "args": $0["args"] ?? [:], "id": $0["id"] ?? .null, "type": "tool_call"]
            })
            o["invalid_tool_calls"] = []
            o["usage_metadata"] = m["usage"].map { u in
                ["input_tokens": u["input_tokens"] ?? 0, "output_tokens": u["output_tokens"] ?? 0,
                 "total_tokens": .int((u["input_tokens"]?.intValue ?? 0) + (u["output_tokens"]?.intValue ?? 0))]
            } ?? .null
        }
        if type == "tool" {
            o["tool_call_id"] = m["tool_call_id"] ?? ""
            o["status"] = "success"
        }
        return .object(o)
    }

    static func values(_ v: JSON) -> JSON {
        guard case .object(var o) = v else { return v }
        if let msgs = o["messages"]?.arrayValue { o["messages"] = .array(msgs.map(message)) }
        return .object(o)
    }

    static func checkpoint(threadID: String, id: JSON?) -> JSON {
        ["thread_id": .string(threadID), "checkpoint_ns": "", "checkpoint_id": id ?? .null]
    }

    /// A ThreadState from a checkpoint row (see LangGraphSQL.checkpoints).
    static func state(threadID: String, _ c: JSON?, parentOf: JSON? = nil) -> JSON {
        guard let c else {
            return ["values": [:], "next": [], "tasks": [], "checkpoint": checkpoint(threadID: threadID, id: nil), "metadata": [:],
                    "created_at": .null, "parent_checkpoint": .null, "interrupts": []]
        }
        let next = c["next"]?.arrayValue ?? []
        return ["values": values(c["values"] ?? [:]), "next": .array(next),
                "tasks": .array(next.map { ["id": .string(Random.uuid()), "name": $0, "path": [], "error": .null, "interrupts": [],
                                            "checkpoint": .null, "state": .null, "result": .null] }),
                "checkpoint": checkpoint(threadID: threadID, id: c["checkpoint_id"]),
                "metadata": c["metadata"] ?? [:], "created_at": c["created_at"] ?? .null,
                "parent_checkpoint": c["parent_id"].flatMap { $0 == .null ? nil : checkpoint(threadID: threadID, id: $0) } ?? .null,
                "checkpoint_id": c["checkpoint_id"] ?? .null, "parent_checkpoint_id": c["parent_id"] ?? .null, "interrupts": []]
    }
}
