import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage

/// /api/v1/threads and their messages
struct ThreadsAPI {
    let store: ThreadsSQL
    static let statuses = ["idle", "busy", "interrupted", "error"]
    static let roles = ["user", "assistant", "system", "tool", "human", "ai"]

    func register(_ api: APIBuilder) {
        let store = self.store
        api.add(Operation(method: "POST", path: "/api/v1/threads", summary: "Create a thread", tag: "threads",
                          body: "ThreadCreate", bodyRequired: false, success: (201, "Thread"))) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let id = try f.uuid("thread_id") ?? Random.uuid()
            return .json(201, try mapStore { try store.create(id: id, metadata: try f.object("metadata") ?? [:]) })
        }
        api.add(Operation(method: "GET", path: "/api/v1/threads", summary: "List threads", tag: "threads",
                          query: [.limit, .cursor, .metadata,
                                  .init(name: "status", schema: ["type": "string", "enum": .array(Self.statuses.map(JSON.string))],
                                        description: "Only threads in this status.")],
                          success: (200, "ThreadPage"))) { req in
            let q = try ListQuery(req)
            return pageResponse(try mapStore { try store.list(limit: q.limit, cursor: try q.timestampCursor(), metadata: try req.metadataFilter(),
                                               status: try req.enumQuery("status", Self.statuses)) })
        }
        api.add(Operation(method: "GET", path: "/api/v1/threads/:thread_id", summary: "Get a thread", tag: "threads",
                          success: (200, "Thread"))) { req in
            let id = try req.uuidParam("thread_id", resource: "thread")
            guard let t = try store.get(id: id) else { throw HTTPError.notFound("thread", id) }
            return .json(200, t)
        }
        api.add(Operation(method: "PATCH", path: "/api/v1/threads/:thread_id", summary: "Update a thread (metadata is merged)",
                          tag: "threads", body: "ThreadUpdate", success: (200, "Thread"))) { req in
            let id = try req.uuidParam("thread_id", resource: "thread")
            let f = Fields(try req.jsonObject())
            guard let t = try store.update(id: id, metadataPatch: try f.object("metadata")) else { throw HTTPError.notFound("thread", id) }
            return .json(200, t)
        }
        api.add(Operation(method: "DELETE", path: "/api/v1/threads/:thread_id",
                          summary: "Delete a thread with its runs and messages", tag: "threads", success: (204, nil))) { req in
            let id = try req.uuidParam("thread_id", resource: "thread")
            guard try store.delete(id: id) else { throw HTTPError.notFound("thread", id) }
            return .empty(204)
        }
        api.add(Operation(method: "POST", path: "/api/v1/threads/:thread_id/messages", summary: "Append a message to a thread",
                          tag: "threads", body: "MessageCreate", success: (201, "Message"))) { req in
            let threadID = try req.uuidParam("thread_id", resource: "thread")
            let f = Fields(try req.jsonObject())
            let role = try f.oneOf("role", Self.roles, default: "")
            if role.isEmpty { throw HTTPError.validation("role", "role is required: one of \(Self.roles.joined(separator: ", "))") }
            let content: JSON
            switch f.o["content"] {
            case .string(let s)?: content = .string(s)
            case .array(let a)?: content = .array(a)
            case nil, .null?: throw HTTPError.validation("content", "content is required")
            case let v?: throw HTTPError.validation("content", "content must be a string or an array, not \(v.typeName)")
            }
            let id = try f.string("id", max: 200, nonEmpty: true) ?? Random.uuid()
            var extra: [String: JSON] = [:]
            if let n = try f.string("name", max: 200) { extra["name"] = .string(n) }
            if let t = try f.string("tool_call_id", max: 200) { extra["tool_call_id"] = .string(t) }
            if let calls = try f.array("tool_calls") { extra["tool_calls"] = .array(calls) }
            extra["metadata"] = try f.object("metadata") ?? [:]
            guard let m = try mapStore({ try store.addMessage(threadID: threadID, id: id, role: role, content: content, extra: .object(extra)) }) else {
                throw HTTPError.notFound("thread", threadID)
            }
            return .json(201, m)
        }
        api.add(Operation(method: "GET", path: "/api/v1/threads/:thread_id/messages",
                          summary: "List a thread's messages in conversation order", tag: "threads",
                          query: [.limit, .cursor], success: (200, "MessagePage"))) { req in
            let threadID = try req.uuidParam("thread_id", resource: "thread")
            let q = try ListQuery(req)
            guard try store.get(id: threadID) != nil else { throw HTTPError.notFound("thread", threadID) }
            return pageResponse(try mapStore { try store.messages(threadID: threadID, limit: q.limit, cursor: try q.integerCursor()) })
        }
    }
}
