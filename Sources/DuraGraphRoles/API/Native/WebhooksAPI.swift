import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage
import DuraGraphWebhooks

/// /api/v1/webhooks: endpoints, their deliveries, redelivery, test pings.
struct WebhooksAPI {
    let store: WebhooksSQL
    let policy: AddressPolicy
    let rotationGrace: Double
    static let events = WebhooksSQL.runEvents + ["*"]

    func register(_ api: APIBuilder) {
        let store = self.store
        let policy = self.policy
        let grace = rotationGrace
        api.add(Operation(method: "POST", path: "/api/v1/webhooks", summary: "Register a webhook endpoint", tag: "webhooks",
                          body: "WebhookCreate", success: (201, "WebhookCreated"))) { req in
            let f = Fields(try req.jsonObject())
            let url = try Self.url(f, policy: policy, required: true)!
            let events = try Self.events(f, required: true)!
            let given = try f.string("secret", max: 500, nonEmpty: true)
            let secret = given ?? StandardWebhooks.generateSecret()
            var w = try store.create(id: Random.uuid(), url: url, events: events, secret: secret,
                                     description: try f.string("description", max: 2000), metadata: try f.object("metadata") ?? [:])
            if given == nil, case .object(var o) = w { o["secret"] = .string(secret); w = .object(o) }
            return .json(201, w)
        }
        api.add(Operation(method: "GET", path: "/api/v1/webhooks", summary: "List webhook endpoints", tag: "webhooks",
                          query: [.limit, .cursor], success: (200, "WebhookPage"))) { req in
            let q = try ListQuery(req)
            return pageResponse(try mapStore { try store.list(limit: q.limit, cursor: try q.timestampCursor()) })
        }
        api.add(Operation(method: "GET", path: "/api/v1/webhooks/:webhook_id", summary: "Get a webhook endpoint", tag: "webhooks",
                          success: (200, "Webhook"))) { req in
            let id = try req.uuidParam("webhook_id", resource: "webhook")
            guard let w = try store.get(id: id) else { throw HTTPError.notFound("webhook", id) }
            return .json(200, w)
        }
        api.add(Operation(method: "PATCH", path: "/api/v1/webhooks/:webhook_id",
                          summary: "Update a webhook endpoint (url, events, enabled, description, metadata, rotate_secret)",
                          tag: "webhooks", body: "WebhookUpdate", success: (200, "WebhookCreated"))) { req in
            let id = try req.uuidParam("webhook_id", resource: "webhook")
            let f = Fields(try req.jsonObject())
            var enabled: Bool?
            switch f.o["enabled"] {
            case nil, .null?: enabled = nil
            case .bool(let b)?: enabled = b
            case let v?: throw HTTPError.validation("enabled", "enabled must be a boolean, not \(v.typeName)")
            }
            var rotate = false
            switch f.o["rotate_secret"] {
            case nil, .null?: rotate = false
            case .bool(let b)?: rotate = b
            case let v?: throw HTTPError.validation("rotate_secret", "rotate_secret must be a boolean, not \(v.typeName)")
            }
            let given = try f.string("secret", max: 500, nonEmpty: true)
            let newSecret = given ?? (rotate ? StandardWebhooks.generateSecret() : nil)
            let description: JSON? = f.present("description") ? (try f.string("description", max: 2000)).map(JSON.string) ?? .null : nil
            guard var w = try store.update(id: id, url: try Self.url(f, policy: policy), events: try Self.events(f), enabled: enabled,
                                           description: description, metadata: try f.object("metadata"), rotateTo: newSecret,
                                           graceSeconds: grace) else {
                throw HTTPError.notFound("webhook", id)
            }
            if given == nil, let s = newSecret, case .object(var o) = w { o["secret"] = .string(s); w = .object(o) }
            return .json(200, w)
        }
        api.add(Operation(method: "DELETE", path: "/api/v1/webhooks/:webhook_id", summary: "Delete a webhook endpoint and its deliveries",
                          tag: "webhooks", success: (204, nil))) { req in
            let id = try req.uuidParam("webhook_id", resource: "webhook")
            guard try store.delete(id: id) else { throw HTTPError.notFound("webhook", id) }
            return .empty(204)
        }
        api.add(Operation(method: "GET", path: "/api/v1/webhooks/:webhook_id/deliveries",
                          summary: "List deliveries with every attempt, newest first", tag: "webhooks",
                          query: [.limit, .cursor], success: (200, "DeliveryPage"))) { req in
            let id = try req.uuidParam("webhook_id", resource: "webhook")
            let q = try ListQuery(req)
            let cursor = try q.timestampCursor()
            guard try store.get(id: id) != nil else { throw HTTPError.notFound("webhook", id) }
            return pageResponse(try mapStore { try store.deliveries(webhookID: id, limit: q.limit, cursor: cursor) })
        }
        api.add(Operation(method: "POST", path: "/api/v1/webhooks/:webhook_id/deliveries/:delivery_id/redeliver",
                          summary: "Send a delivery again (same webhook-id)", tag: "webhooks", bodyRequired: false,
                          success: (202, "Delivery"))) { req in
            let id = try req.uuidParam("webhook_id", resource: "webhook")
            let did = try req.uuidParam("delivery_id", resource: "delivery")
            guard let d = try mapStore({ try store.redeliver(webhookID: id, deliveryID: did) }) else { throw HTTPError.notFound("delivery", did) }
            return .json(202, d)
        }
        api.add(Operation(method: "POST", path: "/api/v1/webhooks/:webhook_id/test", summary: "Send a ping event", tag: "webhooks",
                          bodyRequired: false, success: (202, "Delivery"))) { req in
            let id = try req.uuidParam("webhook_id", resource: "webhook")
            guard let d = try store.enqueueTest(webhookID: id) else { throw HTTPError.notFound("webhook", id) }
            return .json(202, d)
        }
    }

    /// An http(s) URL; a literal address must be allowed by the SSRF policy (hostnames are checked
    /// again on every send, on the address actually connected to).
    static func url(_ f: Fields, policy: AddressPolicy, required: Bool = false) throws(HTTPError) -> String? {
        guard let url = try f.string("url", required: required, max: 2048) else { return nil }
        if let problem = problem(url, policy: policy) { throw HTTPError.validation("url", "url " + problem) }
        return url
    }

    /// Why `url` cannot be a webhook target ("must be an http(s) URL", "points to a non-public
    /// address; ..."), or nil. Endpoints and per-run `webhook` URLs share it.
    static func problem(_ url: String, policy: AddressPolicy) -> String? {
        guard isURL(url), let t = WebhookSender.target(url) else { return "must be an http(s) URL" }
        if let literal = AddressPolicy.parse(t.host), !policy.permits(literal) {
            return "points to a non-public address; allow it with WEBHOOK_ALLOWED_CIDRS"
        }
        return nil
    }

    /// What the document says (http or https in any case, then no whitespace) and what libcurl parses.
    static func isURL(_ url: String) -> Bool {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"),
              !url.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) else { return false }
        return WebhookSender.target(url) != nil
    }

    static func events(_ f: Fields, required: Bool = false) throws(HTTPError) -> [String]? {
        guard let arr = try f.array("events", required: required) else { return nil }
        let names = arr.compactMap(\.stringValue)
        guard !names.isEmpty, names.count == arr.count else { throw HTTPError.validation("events", "events must be a non-empty array of event names") }
        if let bad = names.first(where: { !Self.events.contains($0) }) {
            throw HTTPError.validation("events", "unknown event \(bad); known: \(Self.events.joined(separator: ", "))")
        }
        return Array(Set(names)).sorted()
    }
}
