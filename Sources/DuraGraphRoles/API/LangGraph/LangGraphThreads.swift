import DuraGraphCore
import DuraGraphEngine
import DuraGraphHTTP
import DuraGraphStorage

extension LangGraphAPI {
    func threadID(_ req: HTTPRequest) throws -> String {
        let raw = req.param("thread_id")
        guard Random.isUUID(raw) else { throw Self.detail(422, "Invalid thread ID: must be a UUID") }
        return raw.lowercased()
    }

    /// LangGraph's `ttl` of a thread or a store item: minutes (up to ten years), or
    /// {"ttl": minutes, "strategy": "delete"}.
    static func ttlMinutes(_ v: JSON?) throws -> Double? {
        guard let v, v != .null else { return nil }
        var minutes = v.doubleValue
        if case .object(let o) = v {
            if let strategy = o["strategy"]?.stringValue, strategy != "delete" {
                throw detail(422, "ttl strategy must be 'delete'")
            }
            minutes = o["ttl"]?.doubleValue
        }
        guard let m = minutes, m > 0, m <= 525_600 * 10 else { throw detail(422, "ttl must be a positive number of minutes") }
        return m
    }

    /// threads.create(supersteps=[{"updates": [{"values": {...}, "as_node": "n"}, ...]}, ...]).
    static func supersteps(_ v: JSON?) throws -> [(updates: [[String: JSON]], asNode: String?)] {
        guard let v, v != .null else { return [] }
        guard case .array(let steps) = v else { throw detail(422, "supersteps must be a list") }
        return try steps.map { step in
            guard case .array(let updates)? = step["updates"] else { throw detail(422, "each superstep needs a list of updates") }
            var values: [[String: JSON]] = []
            var asNode: String?
            for u in updates {
                switch u["values"] {
                case .object(let o)?: values.append(o)
                case nil, .null?: break
                default: throw detail(422, "an update's values must be an object")
                }
                if let n = u["as_node"]?.stringValue { asNode = n }
            }
            return (values, asNode)
        }
    }

    func registerThreads(_ api: APIBuilder) {
        let lg = self.lg, threads = self.threads
        api.add(op("POST", "/threads", "Create a thread")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            var id = Random.uuid()
            if let given = try f.string("thread_id") {
                guard Random.isUUID(given) else { throw Self.detail(422, "Invalid thread ID: must be a UUID") }
                id = given.lowercased()
            }
            let supersteps = try Self.supersteps(f.o["supersteps"])
            if let t = try lg.createThread(id: id, metadata: try f.object("metadata") ?? [:], ttlMinutes: try Self.ttlMinutes(f.o["ttl"])) {
                guard !supersteps.isEmpty else { return .json(200, LG.thread(t)) }
                // Each superstep is one checkpoint: its updates applied in order on the state so far.
                var state = State([:])
                for step in supersteps {
                    for u in step.updates { state.apply(State.prepare(u)) }
                    _ = try lg.addCheckpoint(threadID: id, id: Random.uuid(), values: .object(state.values), asNode: step.asNode)
                }
                return .json(200, LG.thread(try lg.thread(id: id) ?? t))
            }
            if try f.string("if_exists") == "do_nothing", let t = try lg.thread(id: id) { return .json(200, LG.thread(t)) }
            throw Self.detail(409, "Thread with ID \(id) already exists")
        }
        api.add(op("GET", "/threads/:thread_id", "Get a thread")) { req in
            guard let t = try lg.thread(id: try threadID(req)) else { throw Self.detail(404, "Thread not found") }
            return .json(200, LG.thread(t))
        }
        api.add(op("PATCH", "/threads/:thread_id", "Update a thread (metadata merged)")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            guard let t = try lg.updateThread(id: try threadID(req), metadataPatch: try f.object("metadata"),
                                              ttlMinutes: try Self.ttlMinutes(f.o["ttl"])) else {
                throw Self.detail(404, "Thread not found")
            }
            if req.header("prefer")?.contains("return=minimal") == true { return .empty(204) }
            return .json(200, LG.thread(t))
        }
        api.add(op("DELETE", "/threads/:thread_id", "Delete a thread", 204)) { req in
            guard try threads.delete(id: try threadID(req)) else { throw Self.detail(404, "Thread not found") }
            return .empty(204)
        }
        api.add(op("POST", "/threads/search", "Search threads")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let ids = try f.array("ids")?.compactMap(\.stringValue).filter(Random.isUUID)
            let (limit, offset) = try f.page(limit: 10)
            return .json(200, .array(try lg.searchThreads(metadata: try f.object("metadata"), values: try f.object("values"),
                                                          status: try f.string("status"), ids: ids,
                                                          limit: limit, offset: offset,
                                                          sortBy: try f.string("sort_by") ?? "created_at",
                                                          desc: (try f.string("sort_order") ?? "desc") == "desc").map(LG.thread)))
        }
        api.add(op("POST", "/threads/count", "Count threads")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            return .json(200, .int(Int64(try lg.countThreads(metadata: try f.object("metadata"), values: try f.object("values"),
                                                             status: try f.string("status")))))
        }
        api.add(op("POST", "/threads/:thread_id/copy", "Copy a thread")) { req in
            guard let t = try lg.copyThread(id: try threadID(req), newID: Random.uuid()) else { throw Self.detail(404, "Thread not found") }
            return .json(200, LG.thread(t))
        }
        api.add(op("POST", "/threads/prune", "Delete threads")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let ids = (try f.array("thread_ids") ?? []).compactMap(\.stringValue).filter(Random.isUUID)
            return .json(200, ["pruned_count": .int(Int64(try lg.pruneThreads(ids: ids)))])
        }
        api.add(op("GET", "/threads/:thread_id/state", "Current thread state")) { req in
            let id = try threadID(req)
            guard try lg.thread(id: id) != nil else { throw Self.detail(404, "Thread not found") }
            return .json(200, LG.state(threadID: id, try lg.checkpoints(threadID: id, limit: 1, before: nil).first))
        }
        api.add(op("GET", "/threads/:thread_id/state/:checkpoint_id", "Thread state at a checkpoint")) { req in
            let id = try threadID(req)
            let cp = req.param("checkpoint_id")
            guard Random.isUUID(cp), let c = try lg.checkpoints(threadID: id, limit: 1, before: nil, checkpointID: cp).first else {
                throw Self.detail(404, "Checkpoint not found")
            }
            return .json(200, LG.state(threadID: id, c))
        }
        api.add(op("POST", "/threads/:thread_id/state/checkpoint", "Thread state at a checkpoint")) { req in
            let id = try threadID(req)
            let f = Fields(try req.jsonObject(allowEmpty: true))
            guard let cp = f.o["checkpoint"]?["checkpoint_id"]?.stringValue, Random.isUUID(cp),
                  let c = try lg.checkpoints(threadID: id, limit: 1, before: nil, checkpointID: cp).first else {
                throw Self.detail(404, "Checkpoint not found")
            }
            return .json(200, LG.state(threadID: id, c))
        }
        api.add(op("POST", "/threads/:thread_id/state", "Update the thread state")) { req in
            let id = try threadID(req)
            let f = Fields(try req.jsonObject(allowEmpty: true))
            guard try lg.thread(id: id) != nil else { throw Self.detail(404, "Thread not found") }
            // At a given checkpoint (checkpoint_id or checkpoint.checkpoint_id): a fork from there.
            var base: String?
            if let cp = Self.startCheckpoint(.object(f.o)) {
                guard Random.isUUID(cp), try !lg.checkpoints(threadID: id, limit: 1, before: nil, checkpointID: cp).isEmpty else {
                    throw Self.detail(404, "Checkpoint not found")
                }
                base = cp
            }
            var state = State(try lg.checkpoints(threadID: id, limit: 1, before: nil, checkpointID: base).first?["values"]?.objectValue ?? [:])
            if case .object(let v)? = f.o["values"] { state.apply(State.prepare(v)) }
            let cp = Random.uuid()
            guard try lg.addCheckpoint(threadID: id, id: cp, values: .object(state.values), asNode: try f.string("as_node")) else {
                throw Self.detail(404, "Thread not found")
            }
            return .json(200, ["checkpoint": LG.checkpoint(threadID: id, id: .string(cp)), "checkpoint_id": .string(cp),
                               "configurable": LG.checkpoint(threadID: id, id: .string(cp))])
        }
        api.add(op("POST", "/threads/:thread_id/history", "Thread state history, newest first")) { req in
            let id = try threadID(req)
            let f = Fields(try req.jsonObject(allowEmpty: true))
            guard try lg.thread(id: id) != nil else { throw Self.detail(404, "Thread not found") }
            var before = try? f.string("before")
            if before == nil { before = f.o["before"]?["checkpoint_id"]?.stringValue }
            if let b = before, !Random.isUUID(b) { before = nil }
            let limit = try f.int("limit", default: 10, in: 1...1000)
            let cps = try lg.checkpoints(threadID: id, limit: limit, before: before ?? nil)
            return .json(200, .array(cps.map { LG.state(threadID: id, $0) }))
        }
        let hub = self.hub
        api.add(op("GET", "/threads/:thread_id/stream", "Stream every run of a thread (SSE)")) { req in
            let id = try threadID(req)
            guard try lg.thread(id: id) != nil else { throw Self.detail(404, "Thread not found") }
            let modes = Self.modes(req.queryValues("stream_mode") + req.queryValues("stream_modes").flatMap { $0.split(separator: ",").map(String.init) })
            let fmt = LGStreamFormatter(modes: modes.isEmpty ? ["values", "updates", "messages-tuple", "custom"] : modes, threadStream: true)
            let after = Int64(req.header("last-event-id") ?? "") ?? 0
            let sub = Subscriber(scope: .thread(id), after: after, hub: hub) { fmt.format($0) }
            return .eventStream(sub)
        }
    }

    static func modes(_ raw: [String]) -> [String] {
        raw.filter { !$0.isEmpty }.map { $0 == "messages_tuple" ? "messages-tuple" : $0 }
    }
}
