import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage

/// /api/v1/apikeys (admin scope when AUTH_ENABLED): create (the key is in the response once),
/// list, get, revoke.
struct APIKeysAPI {
    let store: APIKeysSQL

    func register(_ api: APIBuilder) {
        let store = self.store
        api.add(Operation(method: "POST", path: "/api/v1/apikeys", summary: "Create an API key (the key is returned only here)",
                          tag: "auth", body: "APIKeyCreate", success: (201, "APIKeyCreated"))) { req in
            let f = Fields(try req.jsonObject())
            let name = try f.string("name", required: true, max: 200, nonEmpty: true)!
            let scope = try f.oneOf("scope", APIKeysSQL.scopes, default: "write")
            let m = APIKeyMaterial.generate()
            var k = try store.create(id: Random.uuid(), name: name, scope: scope, hash: m.hash, prefix: m.prefix)
            if case .object(var o) = k { o["key"] = .string(m.key); k = .object(o) }
            Log.info("API key created", ["key_id": k["key_id"] ?? .null, "scope": .string(scope)])
            return .json(201, k)
        }
        api.add(Operation(method: "GET", path: "/api/v1/apikeys", summary: "List API keys (never the keys themselves)", tag: "auth",
                          query: [.limit, .cursor], success: (200, "APIKeyPage"))) { req in
            let q = try ListQuery(req)
            return pageResponse(try mapStore { try store.list(limit: q.limit, cursor: try q.timestampCursor()) })
        }
        api.add(Operation(method: "GET", path: "/api/v1/apikeys/:key_id", summary: "Get an API key's details", tag: "auth",
                          success: (200, "APIKey"))) { req in
            let id = try req.uuidParam("key_id", resource: "api_key")
            guard let k = try store.get(id: id) else { throw HTTPError.notFound("api_key", id) }
            return .json(200, k)
        }
        api.add(Operation(method: "DELETE", path: "/api/v1/apikeys/:key_id", summary: "Revoke an API key (idempotent)", tag: "auth",
                          success: (204, nil))) { req in
            let id = try req.uuidParam("key_id", resource: "api_key")
            guard try store.revoke(id: id) != nil else { throw HTTPError.notFound("api_key", id) }
            Log.info("API key revoked", ["key_id": .string(id)])
            return .empty(204)
        }
    }

    static let schemas: [String: JSON] = {
        typealias D = OpenAPIDocument
        let props: [String: JSON] = [
            "key_id": D.uuid, "name": ["type": "string"], "scope": ["type": "string", "enum": ["read", "write", "admin"]],
            "prefix": ["type": "string", "description": "The first characters of the key, to recognise it."],
            "revoked": ["type": "boolean"], "created_at": D.timestamp, "revoked_at": D.nullableTimestamp,
        ]
        let required = ["key_id", "name", "scope", "prefix", "revoked", "created_at", "revoked_at"]
        var created = props
        created["key"] = ["type": "string", "description": "The API key. Shown only in this response; only its hash is stored."]
        return [
            "APIKey": D.obj(props, required: required),
            "APIKeyCreated": D.obj(created, required: required + ["key"]),
            "APIKeyCreate": D.obj(["name": ["type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"],
                                   "scope": ["type": "string", "enum": ["read", "write", "admin"], "default": "write"]],
                                  required: ["name"]),
            "APIKeyPage": D.page("APIKey"),
        ]
    }()
}
