import DuraGraphCore
import DuraGraphEngine
import DuraGraphHTTP
import DuraGraphStorage

/// /api/v1/assistants
struct AssistantsAPI {
    let store: AssistantsSQL
    static let defaultGraph = "agent"

    func register(_ api: APIBuilder) {
        let store = self.store
        api.add(Operation(method: "POST", path: "/api/v1/assistants", summary: "Create an assistant", tag: "assistants",
                          body: "AssistantCreate", success: (201, "Assistant"))) { req in
            let f = Fields(try req.jsonObject())
            let id = try f.uuid("assistant_id") ?? Random.uuid()
            let graphID = try Self.graph(f) ?? Self.defaultGraph
            let config = try f.object("config") ?? [:]
            try Self.validateGraph(graphID, config)
            let fields = AssistantsSQL.Fields(
                name: try f.string("name", max: 500, nonEmpty: true) ?? graphID,
                description: try f.string("description", max: 10_000),
                graphID: graphID,
                config: config,
                metadata: try f.object("metadata") ?? [:])
            return .json(201, try mapStore { try store.create(id: id, fields) })
        }
        api.add(Operation(method: "GET", path: "/api/v1/assistants", summary: "List assistants", tag: "assistants",
                          query: [.limit, .cursor, .metadata,
                                  .init(name: "graph_id", schema: ["type": "string"], description: "Only this graph."),
                                  .init(name: "name", schema: ["type": "string"], description: "Only this exact name.")],
                          success: (200, "AssistantPage"))) { req in
            let q = try ListQuery(req)
            let page = try mapStore { try store.list(limit: q.limit, cursor: try q.timestampCursor(), metadata: try req.metadataFilter(),
                                      graphID: req.queryValue("graph_id").flatMap { $0.isEmpty ? nil : $0 },
                                      name: req.queryValue("name").flatMap { $0.isEmpty ? nil : $0 }) }
            return pageResponse(page)
        }
        api.add(Operation(method: "GET", path: "/api/v1/assistants/:assistant_id", summary: "Get an assistant", tag: "assistants",
                          success: (200, "Assistant"))) { req in
            let id = try req.uuidParam("assistant_id", resource: "assistant")
            guard let a = try store.get(id: id) else { throw HTTPError.notFound("assistant", id) }
            return .json(200, a)
        }
        api.add(Operation(method: "PATCH", path: "/api/v1/assistants/:assistant_id",
                          summary: "Update an assistant (creates a new version; metadata is merged)", tag: "assistants",
                          body: "AssistantUpdate", success: (200, "Assistant"))) { req in
            let id = try req.uuidParam("assistant_id", resource: "assistant")
            let f = Fields(try req.jsonObject())
            let description: JSON? = f.present("description") ? (try f.string("description", max: 10_000)).map(JSON.string) ?? .null : nil
            let graphID = try Self.graph(f)
            let config = try f.object("config")
            if graphID != nil || config != nil {
                guard let current = try store.get(id: id) else { throw HTTPError.notFound("assistant", id) }
                try Self.validateGraph(graphID ?? current["graph_id"]?.stringValue ?? Self.defaultGraph,
                                       config ?? current["config"] ?? [:])
            }
            guard let a = try store.update(id: id, name: try f.string("name", max: 500, nonEmpty: true),
                                           description: description, graphID: graphID,
                                           config: config, metadataPatch: try f.object("metadata")) else {
                throw HTTPError.notFound("assistant", id)
            }
            return .json(200, a)
        }
        api.add(Operation(method: "DELETE", path: "/api/v1/assistants/:assistant_id",
                          summary: "Delete an assistant with its versions and runs", tag: "assistants", success: (204, nil))) { req in
            let id = try req.uuidParam("assistant_id", resource: "assistant")
            guard try store.delete(id: id) else { throw HTTPError.notFound("assistant", id) }
            return .empty(204)
        }
        api.add(Operation(method: "GET", path: "/api/v1/assistants/:assistant_id/versions",
                          summary: "List an assistant's versions, newest first", tag: "assistants",
                          query: [.limit, .cursor], success: (200, "AssistantVersionPage"))) { req in
            let id = try req.uuidParam("assistant_id", resource: "assistant")
            let q = try ListQuery(req)
            guard try store.exists(id: id) else { throw HTTPError.notFound("assistant", id) }
            return pageResponse(try mapStore { try store.versions(id: id, limit: q.limit, cursor: try q.integerCursor()) })
        }
    }

    static func graph(_ f: Fields) throws(HTTPError) -> String? {
        guard let g = try f.string("graph_id", max: 200) else { return nil }
        guard BuiltinGraphs.ids.contains(g) else {
            throw HTTPError(422, "validation_error", "unknown graph_id \(g); known graphs: \(BuiltinGraphs.ids.joined(separator: ", "))",
                            details: ["field": "graph_id"])
        }
        return g
    }

    /// A graph given in config.graph must be valid: the 422 names the problem.
    static func validateGraph(_ graphID: String, _ config: JSON) throws(HTTPError) {
        do {
            _ = try BuiltinGraphs.resolve(graphID: graphID, config: config.objectValue ?? [:])
        } catch {
            throw HTTPError(422, "validation_error", "invalid graph: \(error.description)", details: ["field": "config.graph"])
        }
    }
}
