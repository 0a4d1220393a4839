import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage
import DuraGraphWebhooks

/// /api/v1/runs
struct RunsAPI {
    let store: RunsSQL
    let threads: ThreadsSQL
    /// The SSRF policy per-run webhook URLs are checked against, as endpoints are.
    let policy: AddressPolicy
    static let strategies = ["reject", "enqueue", "interrupt", "rollback"]

    func register(_ api: APIBuilder) {
        let store = self.store
        let threads = self.threads
        defer { Self.registerResume(api, store) }
        api.add(Operation(method: "POST", path: "/api/v1/runs", summary: "Create a run (queued)", tag: "runs",
                          body: "RunCreate", success: (201, "Run"))) { req in
            let f = Fields(try req.jsonObject())
            let threadID = try f.uuid("thread_id", required: true)!
            let assistantID = try f.uuid("assistant_id", required: true)!
            let input: JSON
            switch f.o["input"] {
            case nil, .null?: input = [:]
            case .object(let o)?: input = .object(o)
            case let v?: throw HTTPError.validation("input", "input must be an object, not \(v.typeName)")
            }
            var kwargs: [String: JSON] = [:]
            for k in ["interrupt_before", "interrupt_after"] {
                switch f.o[k] {
                case nil, .null?: break
                case .string("*")?: kwargs[k] = "*"
                case .array(let a)? where a.allSatisfy({ $0.stringValue != nil }): kwargs[k] = .array(a)
                case _?: throw HTTPError.validation(k, "\(k) must be \"*\" or an array of node names")
                }
            }
            let run = RunsSQL.NewRun(threadID: threadID, assistantID: assistantID, input: input,
                                     config: try f.object("config") ?? [:], metadata: try f.object("metadata") ?? [:],
                                     multitaskStrategy: try f.oneOf("multitask_strategy", Self.strategies, default: "enqueue"),
                                     webhook: try Self.webhookURL(f, policy: policy), kwargs: .object(kwargs))
            let created = try mapStore { try store.create(id: Random.uuid(), run) }
            Metrics.runsCreated.inc()
            return .json(201, created)
        }
        api.add(Operation(method: "GET", path: "/api/v1/runs", summary: "List runs", tag: "runs",
                          query: [.limit, .cursor, Self.statusParam,
                                  .init(name: "thread_id", schema: ["type": "string", "format": "uuid"], description: "Only this thread's runs.")],
                          success: (200, "RunPage"))) { req in
            let q = try ListQuery(req)
            var threadID: String?
            if let t = req.queryValue("thread_id"), !t.isEmpty {
                guard Random.isUUID(t) else { throw HTTPError.validation("thread_id", "thread_id must be a UUID") }
                threadID = t
            }
            return pageResponse(try mapStore { try store.list(threadID: threadID, status: try req.enumQuery("status", RunsSQL.statuses),
                                               limit: q.limit, cursor: try q.timestampCursor()) })
        }
        api.add(Operation(method: "GET", path: "/api/v1/runs/:run_id", summary: "Get a run", tag: "runs",
                          success: (200, "Run"))) { req in
            let id = try req.uuidParam("run_id", resource: "run")
            guard let r = try store.get(id: id) else { throw HTTPError.notFound("run", id) }
            return .json(200, r)
        }
        api.add(Operation(method: "GET", path: "/api/v1/threads/:thread_id/runs", summary: "List a thread's runs", tag: "runs",
                          query: [.limit, .cursor, Self.statusParam], success: (200, "RunPage"))) { req in
            let threadID = try req.uuidParam("thread_id", resource: "thread")
            let q = try ListQuery(req)
            let status = try req.enumQuery("status", RunsSQL.statuses)
            let cursor = try q.timestampCursor()
            guard try threads.get(id: threadID) != nil else { throw HTTPError.notFound("thread", threadID) }
            return pageResponse(try mapStore { try store.list(threadID: threadID, status: status, limit: q.limit, cursor: cursor) })
        }
        api.add(Operation(method: "POST", path: "/api/v1/runs/:run_id/cancel",
                          summary: "Cancel a run (at once when queued; within a second when running)", tag: "runs",
                          bodyRequired: false, success: (202, "Run"), also: [(200, "Run")])) { req in
            let id = try req.uuidParam("run_id", resource: "run")
            switch try store.cancel(id: id) {
            case nil: throw HTTPError.notFound("run", id)
            case .cancelled(let r)?: return .json(200, r)
            case .requested(let r)?: return .json(202, r)
            case .finished(let status)?:
                throw HTTPError.conflict("run already \(status)", details: ["status": .string(status)])
            }
        }
        api.add(Operation(method: "POST", path: "/api/v1/runs/:run_id/submit_tool_outputs",
                          summary: "Submit the outputs of the tool calls a run waits for; the run resumes", tag: "runs",
                          body: "ToolOutputs", success: (200, "Run"))) { req in
            let id = try req.uuidParam("run_id", resource: "run")
            let f = Fields(try req.jsonObject())
            let outputs = try f.array("tool_outputs", required: true)!
            for (i, o) in outputs.enumerated() {
                guard case .object(let obj) = o, case .string? = obj["tool_call_id"], obj["output"] != nil else {
                    throw HTTPError.validation("tool_outputs[\(i)]", "each tool output needs tool_call_id (string) and output")
                }
            }
            switch try store.submitToolOutputs(id: id, outputs: outputs) {
            case nil: throw HTTPError.notFound("run", id)
            case .resumed(let r)?: return .json(200, r)
            case .notWaiting(let status)?:
                throw HTTPError.conflict("run is \(status), not waiting for tool outputs", details: ["status": .string(status)])
            case .wrongKind(let kind)?:
                throw HTTPError.conflict("run waits for \(kind); use resume", details: ["required_action": .string(kind)])
            case .mismatch(let unknown, let missing)?:
                throw HTTPError(422, "validation_error", "tool outputs do not match the run's pending tool calls",
                                details: ["field": "tool_outputs", "unknown": .array(unknown.map(JSON.string)),
                                          "missing": .array(missing.map(JSON.string))])
            }
        }
    }

    static func registerResume(_ api: APIBuilder, _ store: RunsSQL) {
        api.add(Operation(method: "POST", path: "/api/v1/runs/:run_id/resume",
                          summary: "Resume a run paused for human input", tag: "runs",
                          body: "RunResume", success: (200, "Run"))) { req in
            let id = try req.uuidParam("run_id", resource: "run")
            let f = Fields(try req.jsonObject())
            guard let input = f.o["input"], input != .null else { throw HTTPError.validation("input", "input is required") }
            switch try store.resume(id: id, input: input) {
            case nil: throw HTTPError.notFound("run", id)
            case .resumed(let r, _)?: return .json(200, r)
            case .notWaiting(let status)?:
                throw HTTPError.conflict("run is \(status), not waiting for input", details: ["status": .string(status)])
            case .wrongKind(let kind)?:
                throw HTTPError.conflict("run waits for \(kind); use submit_tool_outputs", details: ["required_action": .string(kind)])
            }
        }
    }

    static let statusParam = Operation.Param(name: "status", schema: ["type": "string", "enum": .array(RunsSQL.statuses.map(JSON.string))],
                                             description: "Only runs in this status.")

    static func webhookURL(_ f: Fields, policy: AddressPolicy) throws(HTTPError) -> String? {
        guard let url = try f.string("webhook", max: 2048) else { return nil }
        if let problem = WebhooksAPI.problem(url, policy: policy) { throw HTTPError.validation("webhook", "webhook " + problem) }
        return url
    }
}
