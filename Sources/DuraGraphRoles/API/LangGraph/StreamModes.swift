import DuraGraphCore
import DuraGraphStorage
import Synchronization

/// Renders the run event log in LangGraph's stream modes (values, updates, messages,
/// messages-tuple, events, debug, tasks, checkpoints, custom). One instance per connection: it
/// remembers the partial LLM message of `messages` mode.
final class LGStreamFormatter: Sendable {
    let modes: Set<String>
    /// Thread streams relay several runs and stay open; run streams end with the run.
    let threadStream: Bool
    private let partial = Mutex<[String: String]>([:])

    static let terminal: Set<String> = ["run.completed", "run.failed", "run.cancelled", "run.requires_action", "run.deleted"]
    static let allModes: Set<String> = ["values", "updates", "messages", "messages-tuple", "events", "debug", "tasks", "checkpoints", "custom"]

    init(modes: [String], threadStream: Bool = false) {
        self.modes = Set(modes.isEmpty ? ["values"] : modes)
        self.threadStream = threadStream
    }

    static func frame(_ event: String, _ data: JSON, id: Int64) -> String {
        "event: \(event)\ndata: \(data.description)\nid: \(id)\n\n"
    }

    func format(_ e: EventsSQL.Event) -> (frame: String?, ends: Bool) {
        let id = threadStream ? e.eventID : e.seq
        var out = ""
        func emit(_ mode: String, _ data: JSON) { out += Self.frame(mode, data, id: id) }
        let meta: JSON = ["run_id": .string(e.runID), "thread_id": .string(e.threadID),
                          "langgraph_node": e.data["node"] ?? .null, "langgraph_step": e.data["step"] ?? .null]
        switch e.type {
        case "run.started":
            if threadStream { emit("metadata", ["run_id": .string(e.runID), "attempt": e.data["attempt"] ?? 1]) }
            if modes.contains("values"), let v = e.data["values"] { emit("values", LG.values(v)) }
        case "node.started":
            let node = e.data["node"] ?? .null
            if modes.contains("tasks") { emit("tasks", ["id": .string(taskID(e)), "name": node, "input": .null, "triggers": []]) }
            if modes.contains("debug") {
                emit("debug", ["type": "task", "timestamp": .string(e.ts), "step": e.data["step"] ?? 0,
                               "payload": ["id": .string(taskID(e)), "name": node, "input": .null, "triggers": []]])
            }
            if modes.contains("events") {
                emit("events", ["event": "on_chain_start", "name": node, "run_id": .string(e.runID), "tags": [],
                                "metadata": meta, "data": [:]])
            }
        case "node.completed":
            let node = e.data["node"]?.stringValue ?? ""
            let update = LG.values(e.data["update"] ?? [:])
            if modes.contains("updates") { emit("updates", .object([node: update])) }
            let msgs = update["messages"]?.arrayValue ?? []
            let fromLLM = e.data["type"]?.stringValue == "llm"
            if modes.contains("messages-tuple") && !fromLLM {
                for m in msgs where m["type"]?.stringValue == "ai" { emit("messages", [m, meta]) }
            }
            if modes.contains("messages") {
                for m in msgs where m["type"]?.stringValue == "ai" {
                    if !fromLLM, let mid = m["id"]?.stringValue { emit("messages/metadata", .object([mid: ["metadata": meta]])) }
                    emit("messages/complete", [m])
                }
                _ = partial.withLock { $0.removeValue(forKey: e.runID) }
            }
            if modes.contains("tasks") || modes.contains("debug") {
                let result: JSON = ["id": .string(taskID(e, step: -1)), "name": .string(node), "error": .null, "interrupts": [],
                                    "result": .array((update.objectValue ?? [:]).map { [.string($0.key), $0.value] })]
                if modes.contains("tasks") { emit("tasks", result) }
                if modes.contains("debug") {
                    emit("debug", ["type": "task_result", "timestamp": .string(e.ts), "step": e.data["step"] ?? 0, "payload": result])
                }
            }
            if modes.contains("events") {
                emit("events", ["event": "on_chain_end", "name": .string(node), "run_id": .string(e.runID), "tags": [],
                                "metadata": meta, "data": ["output": update]])
            }
        case "llm.token":
            let token = e.data["token"]?.stringValue ?? ""
            let mid = "run-\(e.runID)-\(e.data["node"]?.stringValue ?? "llm")"
            let chunk: JSON = ["content": .string(token), "additional_kwargs": [:], "response_metadata": [:], "type": "AIMessageChunk",
                               "name": .null, "id": .string(mid), "example": false, "tool_calls": [], "invalid_tool_calls": [],
                               "usage_metadata": .null, "tool_call_chunks": []]
            if modes.contains("messages-tuple") { emit("messages", [chunk, meta]) }
            if modes.contains("messages") {
                let (first, text): (Bool, String) = partial.withLock { p in
                    let was = p[e.runID]
                    p[e.runID] = (was ?? "") + token
                    return (was == nil, p[e.runID]!)
                }
                if first { emit("messages/metadata", .object([mid: ["metadata": meta]])) }
                guard case .object(var c) = chunk else { break }
                c["content"] = .string(text)
                c["type"] = "ai"
                emit("messages/partial", [.object(c)])
            }
            if modes.contains("events") {
                emit("events", ["event": "on_chat_model_stream", "name": "llm", "run_id": .string(e.runID), "tags": [],
                                "metadata": meta, "data": ["chunk": chunk]])
            }
        case "checkpoint.saved":
            let values = LG.values(e.data["values"] ?? [:])
            if modes.contains("values") && e.data["values"] != nil { emit("values", values) }
            let cp: JSON = ["values": values, "next": e.data["next"] ?? [], "tasks": [],
                            "config": ["configurable": ["thread_id": .string(e.threadID), "checkpoint_ns": "",
                                                        "checkpoint_id": e.data["checkpoint_id"] ?? .null]],
                            "metadata": ["step": e.data["step"] ?? 0, "source": "loop"], "parent_config": .null]
            if modes.contains("checkpoints") { emit("checkpoints", cp) }
            if modes.contains("debug") { emit("debug", ["type": "checkpoint", "timestamp": .string(e.ts), "step": e.data["step"] ?? 0, "payload": cp]) }
        case "run.requires_action":
            // Static interrupts (interrupt_before/after) report an empty list, as the official server.
            let list: JSON = e.data["type"]?.stringValue == "interrupt" ? [] : [["value": e.data, "id": .string(taskID(e))]]
            let interrupt: JSON = ["__interrupt__": list]
            if modes.contains("updates") { emit("updates", interrupt) } else if modes.contains("values") { emit("values", interrupt) }
        case "run.failed":
            emit("error", ["error": e.data["code"] ?? "error", "message": e.data["message"] ?? "run failed"])
        case "run.deleted", "thread.deleted":   // made up by the hub: deleted before the run ended
            emit("error", ["error": e.type == "run.deleted" ? "RunDeleted" : "ThreadDeleted", "message": e.data["message"] ?? .null])
            return (out, true)
        default:
            break
        }
        let ends = Self.terminal.contains(e.type)
        if ends && threadStream { out += Self.frame("metadata", ["status": "run_done", "run_id": .string(e.runID)], id: id) }
        return (out.isEmpty ? nil : out, ends && !threadStream)
    }

    private func taskID(_ e: EventsSQL.Event, step: Int = 0) -> String {
        Random.uuid5(namespace: LG.assistantNamespace, name: "\(e.runID):\(e.data["node"]?.stringValue ?? ""):\(e.data["step"]?.intValue ?? 0)")
    }
}

/// runs.wait / runs.join: nothing until the run ends, then its final values (or __error__ /
/// __interrupt__) as one JSON document. Whitespace keeps the connection alive meanwhile.
final class LGWaitFormatter: Sendable {
    private let last = Mutex<JSON>([:])

    func format(_ e: EventsSQL.Event) -> (frame: String?, ends: Bool) {
        if let v = e.data["values"] { last.withLock { $0 = v } }
        switch e.type {
        case "run.completed": return (LG.values(last.withLock { $0 }).description, true)
        case "run.cancelled": return (LG.values(last.withLock { $0 }).description, true)
        case "run.requires_action":
            guard case .object(var o) = LG.values(last.withLock { $0 }) else { return ("{}", true) }
            o["__interrupt__"] = [["value": e.data, "id": .string(Random.uuid())]]
            return (JSON.object(o).description, true)
        case "run.failed":
            return (JSON.object(["__error__": ["error": e.data["code"] ?? "error", "message": e.data["message"] ?? "run failed"]]).description, true)
        case "run.deleted":
            return (JSON.object(["__error__": ["error": "RunDeleted", "message": e.data["message"] ?? .null]]).description, true)
        default: return (nil, false)
        }
    }
}
