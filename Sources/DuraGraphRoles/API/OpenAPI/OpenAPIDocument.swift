import DuraGraphCore

/// GET /api/v1/openapi.json: OpenAPI 3.1, built from the registered operations plus the schemas
/// below. Errors of every operation are the `default` response with the Error schema.
enum OpenAPIDocument {
    static func build(_ ops: [Operation], extraSchemas: [String: JSON] = [:]) -> JSON {
        var paths: [String: JSON] = [:]
        for op in ops {
            let openPath = "/" + op.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            var params: [JSON] = op.path.split(separator: "/").filter { $0.hasPrefix(":") }.map {
                ["name": .string(String($0.dropFirst())), "in": "path", "required": true, "schema": ["type": "string", "format": "uuid"]]
            }
            params += op.query.map { ["name": .string($0.name), "in": "query", "required": false, "schema": $0.schema,
                                      "description": .string($0.description)] }
            var responses: [String: JSON] = [:]
            for (status, schema) in [op.success] + op.also {
                var r: [String: JSON] = ["description": .string(status == 204 ? "No content" : "Success")]
                if let schema { r["content"] = ["application/json": ["schema": ref(schema)]] }
                responses[String(status)] = .object(r)
            }
            responses["default"] = ["description": "Error", "content": ["application/json": ["schema": ref("Error")]]]
            var operation: [String: JSON] = [
                "summary": .string(op.summary), "tags": [.string(op.tag)],
                "operationId": .string(operationID(op)), "responses": .object(responses),
            ]
            if !params.isEmpty { operation["parameters"] = .array(params) }
            if let body = op.body {
                operation["requestBody"] = ["required": .bool(op.bodyRequired),
                                            "content": ["application/json": ["schema": ref(body)]]]
            }
            var item = paths[openPath]?.objectValue ?? [:]
            item[op.method.lowercased()] = .object(operation)
            paths[openPath] = .object(item)
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "DuraGraph API", "version": .string(duragraphVersion),
                     "description": "Native REST API of DuraGraph. Errors: {\"error\", \"message\", \"details\"}."],
            "servers": [["url": "/"]],
            "paths": .object(paths),
            "components": ["schemas": .object(schemas.merging(extraSchemas) { a, _ in a })],
        ]
    }

    static func operationID(_ op: Operation) -> String {
        let words = op.path.split(separator: "/").map { $0.hasPrefix(":") ? "by_" + $0.dropFirst() : $0.replacingOccurrences(".", "_") }
        return op.method.lowercased() + "_" + words.joined(separator: "_")
    }

    static func ref(_ name: String) -> JSON { ["$ref": .string("#/components/schemas/\(name)")] }

    static let object: JSON = ["type": "object"]
    static let timestamp: JSON = ["type": "string", "format": "date-time"]
    static let nullableTimestamp: JSON = ["type": ["string", "null"], "format": "date-time"]
    static let uuid: JSON = ["type": "string", "format": "uuid"]
    static let anyValue: JSON = [:]

    static func obj(_ props: [String: JSON], required: [String] = []) -> JSON {
        var o: [String: JSON] = ["type": "object", "properties": .object(props)]
        if !required.isEmpty { o["required"] = .array(required.map(JSON.string)) }
        return .object(o)
    }

    static func page(_ item: String) -> JSON {
        obj(["data": ["type": "array", "items": ref(item)], "has_more": ["type": "boolean"],
             "next_cursor": ["type": ["string", "null"]]], required: ["data", "has_more", "next_cursor"])
    }

    static let schemas: [String: JSON] = [
        "Error": obj(["error": ["type": "string"], "message": ["type": "string"], "details": object],
                     required: ["error", "message", "details"]),
        "Assistant": obj([
            "assistant_id": uuid, "name": ["type": "string"], "description": ["type": ["string", "null"]],
            "graph_id": ["type": "string"], "config": object, "metadata": object, "version": ["type": "integer"],
            "created_at": timestamp, "updated_at": timestamp,
        ], required: ["assistant_id", "name", "description", "graph_id", "config", "metadata", "version", "created_at", "updated_at"]),
        "AssistantVersion": obj([
            "assistant_id": uuid, "version": ["type": "integer"], "name": ["type": "string"],
            "description": ["type": ["string", "null"]], "graph_id": ["type": "string"], "config": object,
            "metadata": object, "created_at": timestamp,
        ], required: ["assistant_id", "version", "name", "graph_id", "config", "metadata", "created_at"]),
        "AssistantCreate": obj([
            "assistant_id": uuid, "name": ["type": "string", "minLength": 1, "maxLength": 500],
            "description": ["type": ["string", "null"], "maxLength": 10000],
            "graph_id": ["type": "string", "enum": ["agent", "echo"], "default": "agent"],
            "config": ["type": "object", "description": "model, temperature, system_prompt, tools, ..."],
            "metadata": object,
        ]),
        "AssistantUpdate": obj([
            "name": ["type": "string", "minLength": 1, "maxLength": 500],
            "description": ["type": ["string", "null"], "maxLength": 10000],
            "graph_id": ["type": "string", "enum": ["agent", "echo"]],
            "config": object, "metadata": ["type": "object", "description": "Merged into the current metadata."],
        ]),
        "Thread": obj([
            "thread_id": uuid, "metadata": object,
            "status": ["type": "string", "enum": ["idle", "busy", "interrupted", "error"]],
            "created_at": timestamp, "updated_at": timestamp,
        ], required: ["thread_id", "metadata", "status", "created_at", "updated_at"]),
        "ThreadCreate": obj(["thread_id": uuid, "metadata": object]),
        "ThreadUpdate": obj(["metadata": ["type": "object", "description": "Merged into the current metadata."]]),
        "Message": obj([
            "id": ["type": "string"], "role": ["type": "string"],
            "content": ["type": ["string", "array"]], "name": ["type": "string"], "tool_call_id": ["type": "string"],
            "tool_calls": ["type": "array"], "metadata": object, "run_id": ["type": ["string", "null"]],
            "created_at": timestamp,
        ], required: ["id", "role", "content", "created_at"]),
        "MessageCreate": obj([
            "role": ["type": "string", "enum": ["user", "assistant", "system", "tool", "human", "ai"]],
            "content": ["oneOf": [["type": "string"], ["type": "array"]]],
            "id": ["type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"],
            "name": ["type": "string", "maxLength": 200], "tool_call_id": ["type": "string", "maxLength": 200],
            "tool_calls": ["type": "array"], "metadata": object,
        ], required: ["role", "content"]),
        "Run": obj([
            "run_id": uuid, "thread_id": uuid, "assistant_id": uuid,
            "status": ["type": "string", "enum": ["queued", "in_progress", "requires_action", "completed", "failed", "cancelled"]],
            "input": anyValue, "output": anyValue, "error": anyValue,
            "required_action": ["type": ["object", "null"], "description": "{type: submit_tool_outputs, tool_calls: [...]}"],
            "config": object, "metadata": object,
            "multitask_strategy": ["type": "string", "enum": ["reject", "enqueue", "interrupt", "rollback"]],
            "webhook": ["type": ["string", "null"]], "attempt": ["type": "integer"],
            "created_at": timestamp, "updated_at": timestamp, "started_at": nullableTimestamp, "ended_at": nullableTimestamp,
        ], required: ["run_id", "thread_id", "assistant_id", "status", "input", "output", "error", "required_action",
                      "metadata", "created_at", "updated_at", "started_at", "ended_at"]),
        "RunCreate": obj([
            "thread_id": uuid, "assistant_id": uuid, "input": ["type": ["object", "null"]],
            "config": object, "metadata": object,
            "multitask_strategy": ["type": "string", "enum": ["reject", "enqueue", "interrupt", "rollback"], "default": "enqueue"],
            "webhook": ["type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://\\S+$", "maxLength": 2048,
                        "description": "Receives the end of this run. A literal non-public address (loopback, private, link-local) is refused unless WEBHOOK_ALLOWED_CIDRS admits it; host names are checked on every send."],
            "interrupt_before": ["description": "\"*\" or node names: pause before them (requires_action, type interrupt)",
                                 "oneOf": [["type": "string", "enum": ["*"]], ["type": "array", "items": ["type": "string"]]]],
            "interrupt_after": ["description": "\"*\" or node names: pause after them",
                                "oneOf": [["type": "string", "enum": ["*"]], ["type": "array", "items": ["type": "string"]]]],
        ], required: ["thread_id", "assistant_id"]),
        "ToolOutputs": obj([
            "tool_outputs": ["type": "array", "items": obj(["tool_call_id": ["type": "string"], "output": anyValue],
                                                           required: ["tool_call_id", "output"])],
        ], required: ["tool_outputs"]),
        "RunResume": obj(["input": ["description": "A string (added as a user message) or an object of state updates.",
                                    "type": ["string", "object", "array", "number", "boolean"]]], required: ["input"]),
        "Webhook": obj([
            "webhook_id": uuid, "url": ["type": "string"], "events": ["type": "array", "items": ["type": "string"]],
            "description": ["type": ["string", "null"]], "metadata": object, "enabled": ["type": "boolean"],
            "disabled_reason": ["type": ["string", "null"]], "failing_since": nullableTimestamp,
            "created_at": timestamp, "updated_at": timestamp,
        ], required: ["webhook_id", "url", "events", "enabled", "created_at", "updated_at"]),
        "WebhookCreated": obj([
            "webhook_id": uuid, "url": ["type": "string"], "events": ["type": "array", "items": ["type": "string"]],
            "description": ["type": ["string", "null"]], "metadata": object, "enabled": ["type": "boolean"],
            "disabled_reason": ["type": ["string", "null"]], "failing_since": nullableTimestamp,
            "secret": ["type": "string", "description": "Only when the server generated it (create, rotate_secret)."],
            "created_at": timestamp, "updated_at": timestamp,
        ], required: ["webhook_id", "url", "events", "enabled", "created_at", "updated_at"]),
        "WebhookCreate": obj([
            "url": ["type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://\\S+$", "maxLength": 2048],
            "events": ["type": "array", "minItems": 1, "items": ["type": "string", "enum": .array(WebhooksAPI.events.map(JSON.string))]],
            "secret": ["type": "string", "minLength": 1, "maxLength": 500, "pattern": "\\S"],
            "description": ["type": ["string", "null"], "maxLength": 2000], "metadata": object,
        ], required: ["url", "events"]),
        "WebhookUpdate": obj([
            "url": ["type": "string", "format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://\\S+$", "maxLength": 2048],
            "events": ["type": "array", "minItems": 1, "items": ["type": "string", "enum": .array(WebhooksAPI.events.map(JSON.string))]],
            "enabled": ["type": "boolean"], "rotate_secret": ["type": "boolean"],
            "secret": ["type": "string", "minLength": 1, "maxLength": 500, "pattern": "\\S"],
            "description": ["type": ["string", "null"], "maxLength": 2000], "metadata": object,
        ]),
        "Delivery": obj([
            "delivery_id": uuid, "webhook_id": ["type": ["string", "null"]], "event_type": ["type": "string"],
            "run_id": ["type": ["string", "null"]], "status": ["type": "string", "enum": ["pending", "succeeded", "failed"]],
            "attempt_count": ["type": "integer"], "next_attempt_at": nullableTimestamp,
            "last_status_code": ["type": ["integer", "null"]], "last_error": ["type": ["string", "null"]], "payload": object,
            "created_at": timestamp, "completed_at": nullableTimestamp,
            "attempts": ["type": "array", "items": obj(["attempt": ["type": "integer"], "started_at": timestamp,
                                                        "status_code": ["type": ["integer", "null"]], "duration_ms": ["type": "number"],
                                                        "error": ["type": ["string", "null"]], "response_body": ["type": ["string", "null"]]])],
        ], required: ["delivery_id", "event_type", "status", "attempt_count", "payload", "created_at", "attempts"]),
        "WebhookPage": page("Webhook"),
        "DeliveryPage": page("Delivery"),
        "AssistantPage": page("Assistant"),
        "AssistantVersionPage": page("AssistantVersion"),
        "ThreadPage": page("Thread"),
        "MessagePage": page("Message"),
        "RunPage": page("Run"),
        "Health": obj(["status": ["type": "string"], "version": ["type": "string"], "checks": object]),
    ]
}

extension Substring {
    func replacingOccurrences(_ a: Character, _ b: Character) -> String { String(map { $0 == a ? b : $0 }) }
}
