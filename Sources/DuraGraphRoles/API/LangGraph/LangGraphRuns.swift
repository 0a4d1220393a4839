import DuraGraphCore
import DuraGraphEngine
import DuraGraphHTTP
import DuraGraphStorage

extension LangGraphAPI {
    /// Run options kept in runs.kwargs, as LangGraph reports them.
    static let kwargKeys = ["input", "command", "config", "context", "stream_mode", "stream_subgraphs", "stream_resumable",
                            "interrupt_before", "interrupt_after", "on_completion", "on_disconnect", "after_seconds",
                            "checkpoint", "checkpoint_id", "durability", "webhook", "feedback_keys", "if_not_exists"]

    struct Created {
        let run: JSON
        let kwargs: JSON
        let threadID: String
        let stateless: Bool
        /// Streams of a resumed run start after the events it already has.
        var after: Int64 = 0
    }

    /// Creates a run on `threadID` (nil: a stateless run on a new thread).
    func createRun(threadID given: String?, _ o: [String: JSON]) throws -> Created {
        let f = Fields(o)
        guard let rawAssistant = try f.string("assistant_id") else { throw Self.detail(422, "assistant_id is required") }
        let assistantID = try assistantID(rawAssistant)
        guard try assistants.exists(id: assistantID) else { throw Self.detail(404, "Assistant '\(rawAssistant)' not found") }
        // Everything is checked before a thread is made: a refused run leaves nothing behind.
        let goto = RunExecutor.gotoTarget(.object(o))
        if let g = goto {
            guard !g.node.isEmpty else { throw Self.detail(422, "command.goto must be one node name or one Send {node, input}") }
            if let a = try assistants.get(id: assistantID), let graphID = a["graph_id"]?.stringValue,
               let graph = try? BuiltinGraphs.resolve(graphID: graphID, config: a["config"]?.objectValue ?? [:]),
               graph.nodes[g.node] == nil {
                throw Self.detail(422, "command.goto: the graph has no node '\(g.node)'")
            }
        }
        var afterSeconds: Double?
        if let v = o["after_seconds"], v != .null {
            guard let d = v.doubleValue, d >= 0, d <= 31_536_000 else { throw Self.detail(422, "after_seconds must be a number of seconds from 0 to a year") }
            afterSeconds = d
        }
        _ = try Self.cancelOnDisconnect(o)
        let onCompletion = try f.string("on_completion") ?? "delete"
        guard ["delete", "keep"].contains(onCompletion) else { throw Self.detail(422, "on_completion must be 'delete' or 'keep'") }
        let strategy = try f.string("multitask_strategy") ?? "enqueue"
        guard RunsAPI.strategies.contains(strategy) else { throw Self.detail(422, "Invalid multitask_strategy \(strategy)") }
        let webhook = try self.webhook(o["webhook"])
        let metadata = try f.object("metadata") ?? [:]
        if o["command"]?["resume"] == nil, let i = o["input"], i != .null, i.objectValue == nil {
            throw Self.detail(422, "input must be an object")
        }
        let checkpoint = Self.startCheckpoint(.object(o))
        if let cp = checkpoint {
            guard given != nil else { throw Self.detail(422, "checkpoint_id needs a thread: stateless runs start from nothing") }
            guard Random.isUUID(cp) else { throw Self.detail(422, "checkpoint_id must be a UUID") }
            guard let t = given, try !lg.checkpoints(threadID: t, limit: 1, before: nil, checkpointID: cp).isEmpty else {
                throw Self.detail(404, "Checkpoint \(cp) not found on this thread")
            }
        }
        var threadID = given
        if let t = threadID, try lg.thread(id: t) == nil {
            guard try f.string("if_not_exists") == "create" else { throw Self.detail(404, "Thread \(t) not found") }
            _ = try lg.createThread(id: t, metadata: [:])
        }
        if threadID == nil {
            threadID = Random.uuid()
            _ = try lg.createThread(id: threadID!, metadata: [:])
        }
        // Resuming an interrupted thread (command.resume, or no input): the paused run continues.
        if goto == nil, checkpoint == nil, let t = threadID,
           o["command"]?["resume"] != nil || o["input"] == nil || o["input"] == .null,
           let paused = try lg.runs(threadID: t, status: ["requires_action"], limit: 1, offset: 0).first,
           let runID = paused.run["run_id"]?.stringValue {
            let value = o["command"]?["resume"] ?? o["command"]?["update"] ?? [:]
            switch try runs.resume(id: runID, input: value) {
            case .resumed(let r, let lastSeq)?: return Created(run: r, kwargs: paused.kwargs, threadID: t, stateless: false, after: lastSeq)
            case .wrongKind(let kind)?: throw Self.detail(409, "the thread waits for \(kind); submit tool outputs instead")
            default: break
            }
        }
        var input = o["input"] ?? .null
        if case .object(let cmd)? = o["command"], case .object(let update)? = cmd["update"] {
            var merged = input.objectValue ?? [:]
            for (k, v) in update { merged[k] = v }
            input = .object(merged)
        }
        if input != .null && input.objectValue == nil { throw Self.detail(422, "input must be an object") }
        var kwargs: [String: JSON] = [:]
        for k in Self.kwargKeys { if let v = o[k] { kwargs[k] = v } }
        var config = o["config"]?.objectValue ?? [:]
        if let ctx = o["context"], ctx != .null { config["context"] = ctx }
        var new = RunsSQL.NewRun(threadID: threadID!, assistantID: assistantID, input: input == .null ? [:] : input,
                                 config: .object(config), metadata: metadata, multitaskStrategy: strategy,
                                 webhook: webhook, kwargs: .object(kwargs))
        new.afterSeconds = afterSeconds
        // on_completion applies to stateless runs only: their thread exists for this run alone.
        new.deleteThread = given == nil && onCompletion == "delete"
        new.langgraph = true
        new.supersedePaused = true   // not a resume (handled above): the thread moves on
        do {
            let run = try runs.create(id: Random.uuid(), new)
            Metrics.runsCreated.inc()
            return Created(run: run, kwargs: .object(kwargs), threadID: threadID!, stateless: given == nil)
        } catch StoreError.conflict(let m) {
            throw Self.detail(409, m)
        } catch StoreError.notFound(let what) {
            throw Self.detail(404, "\(what) not found")
        }
    }

    static func locations(_ c: Created, suffix: String) -> [(String, String)] {
        let runID = c.run["run_id"]?.stringValue ?? ""
        let base = c.stateless ? "/runs/\(runID)" : "/threads/\(c.threadID)/runs/\(runID)"
        return [("Content-Location", base), ("Location", base + suffix)]
    }

    func streamResponse(runID: String, modes: [String], after: Int64, headers: [(String, String)], attempt: JSON = 1,
                        cancelOnDisconnect: Bool = false) -> HTTPResponse {
        let fmt = LGStreamFormatter(modes: modes)
        // LangGraph's first event, without an id (it is not in the log).
        let preamble = after == 0 ? "event: metadata\ndata: \(JSON.object(["run_id": .string(runID), "attempt": attempt]).description)\n\n" : ""
        let sub = Subscriber(scope: .run(runID), after: after, hub: hub, preamble: preamble) { fmt.format($0) }
        if cancelOnDisconnect { sub.onDisconnect = cancelling(runID) }
        return .eventStream(sub, headers: headers)
    }

    /// on_disconnect=cancel: the client that made the run left before it ended.
    func cancelling(_ runID: String) -> @Sendable () -> Void {
        let runs = self.runs
        return {
            Log.info("client disconnected; cancelling its run (on_disconnect=cancel)", ["run_id": .string(runID)])
            _ = try? runs.cancel(id: runID)
        }
    }

    func waitResponse(runID: String, after: Int64 = 0, headers: [(String, String)], cancelOnDisconnect: Bool = false) -> HTTPResponse {
        let fmt = LGWaitFormatter()
        let sub = Subscriber(scope: .run(runID), after: after, hub: hub) { fmt.format($0) }
        if cancelOnDisconnect { sub.onDisconnect = cancelling(runID) }
        sub.heartbeatText = "\n"
        var r = HTTPResponse.eventStream(sub, headers: headers)
        r.headers = [("Content-Type", "application/json")] + headers
        return r
    }

    /// The checkpoint a run starts from: checkpoint_id, or checkpoint.checkpoint_id.
    static func startCheckpoint(_ kwargs: JSON) -> String? {
        for v in [kwargs["checkpoint_id"], kwargs["checkpoint"]?["checkpoint_id"]] {
            if let s = v?.stringValue { return s.lowercased() }
        }
        return nil
    }

    static func cancelOnDisconnect(_ o: [String: JSON]) throws -> Bool {
        switch o["on_disconnect"] {
        case nil, .null?: return false
        case .string("cancel")?: return true
        case .string("continue")?: return false
        default: throw detail(422, "on_disconnect must be 'cancel' or 'continue'")
        }
    }

    static func streamModes(_ o: [String: JSON]) -> [String] {
        switch o["stream_mode"] {
        case .string(let s)?: return modes([s])
        case .array(let a)?: return modes(a.compactMap(\.stringValue))
        default: return ["values"]
        }
    }

    func registerRuns(_ api: APIBuilder) {
        let lg = self.lg
        for stateless in [false, true] {
            let prefix = stateless ? "" : "/threads/:thread_id"
            api.add(op("POST", prefix + "/runs", "Create a background run")) { req in
                let c = try createRun(threadID: stateless ? nil : try threadID(req), try req.jsonObject(allowEmpty: true))
                return .json(200, LG.run(c.run, kwargs: c.kwargs), headers: Self.locations(c, suffix: "").filter { $0.0 == "Content-Location" })
            }
            api.add(op("POST", prefix + "/runs/stream", "Create a run and stream its output (SSE)")) { req in
                let body = try req.jsonObject(allowEmpty: true)
                let c = try createRun(threadID: stateless ? nil : try threadID(req), body)
                return streamResponse(runID: c.run["run_id"]!.stringValue!, modes: Self.streamModes(body), after: c.after,
                                      headers: Self.locations(c, suffix: "/stream"), cancelOnDisconnect: try Self.cancelOnDisconnect(body))
            }
            api.add(op("POST", prefix + "/runs/wait", "Create a run and wait for its final values")) { req in
                let body = try req.jsonObject(allowEmpty: true)
                let c = try createRun(threadID: stateless ? nil : try threadID(req), body)
                return waitResponse(runID: c.run["run_id"]!.stringValue!, after: c.after, headers: Self.locations(c, suffix: "/join"),
                                    cancelOnDisconnect: try Self.cancelOnDisconnect(body))
            }
        }
        api.add(op("POST", "/runs/batch", "Create several stateless runs")) { req in
            guard let v = try? JSON.parse(req.body), case .array(let items) = v else { throw Self.detail(422, "body must be an array of runs") }
            var out: [JSON] = []
            for item in items {
                guard case .object(let o) = item else { throw Self.detail(422, "each run must be an object") }
                let t = o["thread_id"]?.stringValue
                let c = try createRun(threadID: t, o)
                out.append(LG.run(c.run, kwargs: c.kwargs))
            }
            return .json(200, .array(out))
        }
        api.add(op("GET", "/threads/:thread_id/runs", "List a thread's runs, newest first")) { req in
            let t = try threadID(req)
            guard try lg.thread(id: t) != nil else { throw Self.detail(404, "Thread not found") }
            let native = req.queryValue("status").flatMap { s -> [String]? in
                switch s {
                case "pending": return ["queued"]
                case "running": return ["in_progress"]
                case "success": return ["completed", "requires_action"]
                case "error", "timeout": return ["failed"]
                case "interrupted": return ["cancelled"]
                default: return nil
                }
            }
            let (limit, offset) = try Fields(query: req, ["limit", "offset"]).page(limit: 10)
            let rows = try lg.runs(threadID: t, status: native, limit: limit, offset: offset)
            return .json(200, .array(rows.map { LG.run($0.run, kwargs: $0.kwargs) }))
        }
        api.add(op("GET", "/threads/:thread_id/runs/:run_id", "Get a run")) { req in
            let r = req.param("run_id")
            guard Random.isUUID(r), let row = try lg.run(threadID: try threadID(req), runID: r) else { throw Self.detail(404, "Run not found") }
            return .json(200, LG.run(row.run, kwargs: row.kwargs))
        }
        api.add(op("GET", "/threads/:thread_id/runs/:run_id/join", "Wait for a run and return its final values")) { req in
            let r = req.param("run_id")
            let t = try threadID(req)
            guard Random.isUUID(r), try lg.run(threadID: t, runID: r) != nil else { throw Self.detail(404, "Run not found") }
            return waitResponse(runID: r, headers: [("Location", "/threads/\(t)/runs/\(r)/join")])
        }
        api.add(op("GET", "/threads/:thread_id/runs/:run_id/stream", "Join a run's stream (SSE)")) { req in
            let r = req.param("run_id")
            let t = try threadID(req)
            guard Random.isUUID(r), let row = try lg.run(threadID: t, runID: r) else { throw Self.detail(404, "Run not found") }
            var modes = Self.modes(req.queryValues("stream_mode"))
            if modes.isEmpty { modes = Self.streamModes(row.kwargs.objectValue ?? [:]) }
            let after = Int64(req.header("last-event-id") ?? "") ?? 0
            return streamResponse(runID: r, modes: modes, after: after, headers: [("Location", "/threads/\(t)/runs/\(r)/stream")])
        }
        api.add(op("POST", "/threads/:thread_id/runs/:run_id/cancel", "Cancel a run", 202)) { req in
            let r = req.param("run_id")
            let t = try threadID(req)
            guard Random.isUUID(r), try lg.run(threadID: t, runID: r) != nil else { throw Self.detail(404, "Run not found") }
            _ = try runs.cancel(id: r)
            if req.queryValue("wait") == "1" || req.queryValue("wait") == "true" {
                return waitResponse(runID: r, headers: [("Location", "/threads/\(t)/runs/\(r)/join")])
            }
            return .empty(202)
        }
        api.add(op("POST", "/runs/cancel", "Cancel several runs", 204)) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            var ids = (try f.array("run_ids") ?? []).compactMap(\.stringValue).filter(Random.isUUID)
            if let status = try f.string("status") {
                let native = status == "pending" ? ["queued"] : status == "running" ? ["in_progress"] : ["queued", "in_progress"]
                ids += try lg.activeRunIDs(statuses: native)
            }
            for id in ids { _ = try runs.cancel(id: id) }
            return .empty(204)
        }
        api.add(op("DELETE", "/threads/:thread_id/runs/:run_id", "Delete a finished run", 204)) { req in
            let r = req.param("run_id")
            guard Random.isUUID(r) else { throw Self.detail(404, "Run not found") }
            switch try lg.deleteRun(threadID: try threadID(req), runID: r) {
            case nil: throw Self.detail(404, "Run not found")
            case false?: throw Self.detail(409, "Run is still active; cancel it first")
            case true?: return .empty(204)
            }
        }
    }

    // MARK: store

    func registerStore(_ api: APIBuilder) {
        let lg = self.lg
        @Sendable func namespace(_ v: JSON?) throws -> [String] {
            guard let a = v?.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else { throw Self.detail(422, "namespace must be an array of strings") }
            return a.compactMap(\.stringValue)
        }
        api.add(op("PUT", "/store/items", "Put an item", 204)) { req in
            let f = Fields(try req.jsonObject())
            guard let key = try f.string("key"), case .object? = f.o["value"] else { throw Self.detail(422, "key and value (object) are required") }
            try lg.putItem(namespace: try namespace(f.o["namespace"]), key: key, value: f.o["value"]!, ttlMinutes: try Self.ttlMinutes(f.o["ttl"]))
            return .empty(204)
        }
        api.add(op("GET", "/store/items", "Get an item")) { req in
            guard let key = req.queryValue("key") else { throw Self.detail(422, "key is required") }
            let ns = (req.queryValue("namespace") ?? "").split(separator: ".").map(String.init)
            return .json(200, try lg.getItem(namespace: ns, key: key) ?? .null)
        }
        api.add(op("DELETE", "/store/items", "Delete an item", 204)) { req in
            let f = Fields(try req.jsonObject())
            guard let key = try f.string("key") else { throw Self.detail(422, "key is required") }
            try lg.deleteItem(namespace: try namespace(f.o["namespace"]), key: key)
            return .empty(204)
        }
        api.add(op("POST", "/store/items/search", "Search items by namespace prefix and filter")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let (limit, offset) = try f.page(limit: 10, max: .max)
            let items = try lg.searchItems(prefix: f.o["namespace_prefix"] == nil ? [] : try namespace(f.o["namespace_prefix"]),
                                           filter: try f.object("filter"), limit: limit, offset: offset)
            return .json(200, ["items": .array(items.map { i in
                guard case .object(var o) = i else { return i }
                o["score"] = .null
                return .object(o)
            })])
        }
        api.add(op("POST", "/store/namespaces", "List namespaces")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let (limit, offset) = try f.page(limit: 100, max: .max)
            let ns = try lg.namespaces(prefix: f.o["prefix"] == nil ? [] : try namespace(f.o["prefix"]),
                                       suffix: f.o["suffix"] == nil ? [] : try namespace(f.o["suffix"]),
                                       maxDepth: try f.int("max_depth", in: 1...Int(Int32.max)),
                                       limit: limit, offset: offset)
            return .json(200, ["namespaces": .array(ns.map { .array($0.map(JSON.string)) })])
        }
    }
}
