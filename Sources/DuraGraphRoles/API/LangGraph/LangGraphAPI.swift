import DuraGraphCore
import DuraGraphEngine
import DuraGraphHTTP
import DuraGraphStorage
import DuraGraphWebhooks

/// The LangGraph Platform API at the root paths, over the same tables as the native API, with
/// LangGraph's shapes, statuses and status codes (creates 200, deletes 204, errors {"detail"}).
struct LangGraphAPI {
    let lg: LangGraphSQL
    let assistants: AssistantsSQL
    let runs: RunsSQL
    let threads: ThreadsSQL
    let hub: StreamHub
    /// The SSRF policy a run's or cron's `webhook` URL is checked against at create time.
    let webhookPolicy: AddressPolicy

    /// A `webhook` option: nil when absent, else a URL the dispatcher may send to (422 otherwise).
    func webhook(_ v: JSON?) throws -> String? {
        guard let v, v != .null else { return nil }
        guard let url = v.stringValue else { throw Self.detail(422, "webhook must be an http(s) URL") }
        if let problem = WebhooksAPI.problem(url, policy: webhookPolicy) { throw Self.detail(422, "webhook " + problem) }
        return url
    }

    static func detail(_ status: Int, _ message: String) -> HTTPError { HTTPError(status, "error", message) }

    /// A UUID, or a graph name standing for that graph's default assistant.
    func assistantID(_ raw: String) throws -> String {
        if Random.isUUID(raw) { return raw.lowercased() }
        guard BuiltinGraphs.ids.contains(raw) else { throw Self.detail(404, "Assistant '\(raw)' not found") }
        let id = LG.graphAssistantID(raw)
        try lg.ensureGraphAssistant(id: id, graphID: raw)
        return id
    }

    func ensureDefaults() throws {
        for g in BuiltinGraphs.ids { try lg.ensureGraphAssistant(id: LG.graphAssistantID(g), graphID: g) }
    }

    func register(_ api: APIBuilder) {
        registerMeta(api)
        registerAssistants(api)
        registerThreads(api)
        registerRuns(api)
        registerStore(api)
        registerCrons(api)
    }

    func op(_ method: String, _ path: String, _ summary: String, _ success: Int = 200) -> Operation {
        Operation(method: method, path: path, summary: summary, tag: "langgraph", bodyRequired: false, success: (success, nil))
    }

    // MARK: meta

    func registerMeta(_ api: APIBuilder) {
        api.add(op("GET", "/ok", "LangGraph liveness")) { _ in .json(200, ["ok": true]) }
        api.add(op("GET", "/info", "Server information (LangGraph Studio)")) { _ in
            .json(200, ["version": .string(duragraphVersion), "langgraph_py_version": "0.4", "flags": ["assistants": true, "crons": false,
                        "langsmith": false], "host": ["kind": "self-hosted", "project_id": .null, "revision_id": .null]])
        }
    }

    // MARK: assistants

    func registerAssistants(_ api: APIBuilder) {
        let lg = self.lg, store = self.assistants
        api.add(op("POST", "/assistants", "Create an assistant")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let graphID = try f.string("graph_id") ?? "agent"
            guard BuiltinGraphs.ids.contains(graphID) else { throw Self.detail(404, "Graph '\(graphID)' not found") }
            var config = try f.object("config")?.objectValue ?? [:]
            if let ctx = try f.object("context") { config["context"] = ctx }
            let id = try f.uuid("assistant_id") ?? Random.uuid()
            do {
                let a = try store.create(id: id, .init(name: try f.string("name") ?? graphID, description: try f.string("description"),
                                                       graphID: graphID, config: .object(config), metadata: try f.object("metadata") ?? [:]))
                return .json(200, LG.assistant(a))
            } catch StoreError.conflict {
                if try f.string("if_exists") == "do_nothing", let a = try store.get(id: id) { return .json(200, LG.assistant(a)) }
                throw Self.detail(409, "Assistant \(id) already exists")
            }
        }
        api.add(op("GET", "/assistants/:assistant_id", "Get an assistant")) { req in
            guard let a = try store.get(id: try assistantID(req.param("assistant_id"))) else { throw Self.detail(404, "Assistant not found") }
            return .json(200, LG.assistant(a))
        }
        api.add(op("PATCH", "/assistants/:assistant_id", "Update an assistant (new version)")) { req in
            let id = try assistantID(req.param("assistant_id"))
            let f = Fields(try req.jsonObject(allowEmpty: true))
            var config = try f.object("config")
            if let ctx = try f.object("context") {
                let current = try store.get(id: id)?["config"]?.objectValue ?? [:]
                var c = config?.objectValue ?? current
                c["context"] = ctx
                config = .object(c)
            }
            let graphID = try f.string("graph_id")
            if let g = graphID, !BuiltinGraphs.ids.contains(g) { throw Self.detail(404, "Graph '\(g)' not found") }
            guard let a = try store.update(id: id, name: try f.string("name"), description: f.present("description") ? f.o["description"] : nil,
                                           graphID: graphID, config: config, metadataPatch: try f.object("metadata")) else {
                throw Self.detail(404, "Assistant not found")
            }
            return .json(200, LG.assistant(a))
        }
        api.add(op("DELETE", "/assistants/:assistant_id", "Delete an assistant", 204)) { req in
            guard try store.delete(id: try assistantID(req.param("assistant_id"))) else { throw Self.detail(404, "Assistant not found") }
            return .empty(204)
        }
        api.add(op("POST", "/assistants/search", "Search assistants")) { req in
            try ensureDefaults()
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let (limit, offset) = try f.page(limit: 10)
            let r = try lg.searchAssistants(metadata: try f.object("metadata"), graphID: try f.string("graph_id"), name: try f.string("name"),
                                            limit: limit, offset: offset,
                                            sortBy: try f.string("sort_by") ?? "created_at", desc: (try f.string("sort_order") ?? "desc") == "desc")
            var headers: [(String, String)] = []
            if r.more { headers.append(("X-Pagination-Next", String(offset + limit))) }
            return .json(200, .array(r.items.map(LG.assistant)), headers: headers)
        }
        api.add(op("POST", "/assistants/count", "Count assistants")) { req in
            try ensureDefaults()
            let f = Fields(try req.jsonObject(allowEmpty: true))
            return .json(200, .int(Int64(try lg.countAssistants(metadata: try f.object("metadata"), graphID: try f.string("graph_id"),
                                                                 name: try f.string("name")))))
        }
        api.add(op("POST", "/assistants/:assistant_id/versions", "List an assistant's versions")) { req in
            let id = try assistantID(req.param("assistant_id"))
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let (limit, offset) = try f.page(limit: 10)
            guard try store.exists(id: id) else { throw Self.detail(404, "Assistant not found") }
            return .json(200, .array(try lg.assistantVersions(id: id, metadata: try f.object("metadata"), limit: limit, offset: offset)))
        }
        api.add(op("POST", "/assistants/:assistant_id/latest", "Set the latest version")) { req in
            let id = try assistantID(req.param("assistant_id"))
            let f = Fields(try req.jsonObject(allowEmpty: true))
            // In the body (the SDK) or the query string.
            let versions = 1...Int(Int32.max)
            guard let v = try f.int("version", in: versions) ?? Fields(query: req, ["version"]).int("version", in: versions) else {
                throw Self.detail(422, "version is required")
            }
            guard let a = try lg.setLatest(id: id, version: v) else { throw Self.detail(404, "Assistant or version not found") }
            return .json(200, LG.assistant(a))
        }
        api.add(op("GET", "/assistants/:assistant_id/graph", "The assistant's graph")) { req in
            guard let a = try store.get(id: try assistantID(req.param("assistant_id"))) else { throw Self.detail(404, "Assistant not found") }
            let g = try BuiltinGraphs.resolve(graphID: a["graph_id"]?.stringValue ?? "", config: a["config"]?.objectValue ?? [:])
            var nodes: [JSON] = [["id": "__start__", "type": "schema", "data": "__start__"]]
            nodes += g.nodes.keys.sorted().map { ["id": .string($0), "type": "runnable", "data": ["id": [], "name": .string($0)]] }
            nodes.append(["id": "__end__", "type": "schema", "data": "__end__"])
            var edges: [JSON] = [["source": "__start__", "target": .string(g.entry)]]
            edges += g.edges.map { ["source": .string($0.from), "target": .string($0.to), "conditional": .bool($0.when != nil)] }
            return .json(200, ["nodes": .array(nodes), "edges": .array(edges)])
        }
        api.add(op("GET", "/assistants/:assistant_id/schemas", "The assistant's schemas")) { req in
            guard let a = try store.get(id: try assistantID(req.param("assistant_id"))) else { throw Self.detail(404, "Assistant not found") }
            let state: JSON = ["type": "object", "properties": ["messages": ["type": "array", "items": ["type": "object"]]]]
            return .json(200, ["graph_id": a["graph_id"] ?? .null, "input_schema": state, "output_schema": state, "state_schema": state,
                               "config_schema": ["type": "object", "properties": ["model": ["type": "string"], "system_prompt": ["type": "string"]]],
                               "context_schema": ["type": "object"]])
        }
        let subgraphs: HTTPHandler = { req in
            guard try store.get(id: try assistantID(req.param("assistant_id"))) != nil else { throw Self.detail(404, "Assistant not found") }
            return .json(200, [:])
        }
        api.add(op("GET", "/assistants/:assistant_id/subgraphs", "Subgraphs (none)"), subgraphs)
        api.add(op("GET", "/assistants/:assistant_id/subgraphs/:namespace", "Subgraphs (none)"), subgraphs)
    }
}
