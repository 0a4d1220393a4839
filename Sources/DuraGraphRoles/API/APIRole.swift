import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage
import DuraGraphWebhooks
import Synchronization

/// The `api` role: HTTP on API_HOST:API_PORT.
public final class APIRole: Role, @unchecked Sendable {   // server is set once in start()
    public let name = "api"
    public let channels = [Channel.runEvents]
    private var server: HTTPServer?
    private var hub: StreamHub?
    private var dashboardServer: HTTPServer?
    private let draining = Atomic<Bool>(false)

    public init() {}

    public func start(_ ctx: RoleContext) throws {
        let health = HealthMonitor(url: ctx.databaseURL, stop: ctx.stop)
        health.start()
        let router = Router()
        let api = APIBuilder(router: router)
        HealthRoutes(health: health, draining: { self.draining.load(ordering: .relaxed) }, metricsDir: ctx.settings.metricsDir).register(api)
        let pool = ctx.pool
        let gate = AuthGate(settings: ctx.settings.auth, pool: pool)
        try gate.checkStartup()
        gate.startMaintenance(stop: ctx.stop)
        APIKeysAPI(store: APIKeysSQL(pool: pool)).register(api)
        AssistantsAPI(store: AssistantsSQL(pool: pool)).register(api)
        ThreadsAPI(store: ThreadsSQL(pool: pool)).register(api)
        let webhookPolicy = try AddressPolicy(allowedCIDRs: ctx.settings.webhookAllowedCIDRs)
        RunsAPI(store: RunsSQL(pool: pool), threads: ThreadsSQL(pool: pool), policy: webhookPolicy).register(api)
        WebhooksAPI(store: WebhooksSQL(pool: pool), policy: webhookPolicy, rotationGrace: ctx.settings.webhookRotationGrace).register(api)
        let hub = StreamHub(events: EventsSQL(pool: pool), stop: ctx.stop)
        self.hub = hub
        NativeStreamAPI(hub: hub, threads: ThreadsSQL(pool: pool)).register(api)
        LangGraphAPI(lg: LangGraphSQL(pool: pool), assistants: AssistantsSQL(pool: pool), runs: RunsSQL(pool: pool),
                     threads: ThreadsSQL(pool: pool), hub: hub, webhookPolicy: webhookPolicy).register(api)
        StaticFiles(root: StaticFiles.locate(ctx.settings.dashboardDir)).register(api)
        let metricsDir = ctx.settings.metricsDir
        api.add(Operation(method: "GET", path: "/metrics", summary: "Prometheus metrics of every local DuraGraph process", tag: "meta",
                          success: (200, nil))) { _ in
            .text(200, MetricsFile.page(dir: metricsDir), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        var ops = api.operations
        ops.append(Operation(method: "GET", path: "/api/v1/openapi.json", summary: "This OpenAPI document", tag: "meta",
                             success: (200, nil)))
        let document = HTTPResponse.json(200, OpenAPIDocument.build(ops, extraSchemas: APIKeysAPI.schemas))
        api.add(ops.last!) { _ in document }
        let cors = CORSPolicy(origins: ctx.settings.corsOrigins)
        let service = HTTPService(router: router, observer: httpMetricsObserver, gate: gate.isActive ? gate : nil,
                                  cors: cors.isActive ? cors : nil, renderError: Self.renderError)
        let s = ctx.settings
        let server = HTTPServer(options: .init(host: s.apiHost, port: s.apiPort, threads: s.httpThreads,
                                               connectionLimit: s.httpConnectionLimit, timeoutSeconds: s.httpTimeout,
                                               maxBodyBytes: s.httpMaxBody, listenFD: try ListenSocket.apiListenFD()),
                                handle: { service.handle($0) })
        try server.start()
        self.server = server
        Log.info("listening", ["address": .string("\(server.boundHost ?? s.apiHost):\(server.port)"),
                               "socket_activated": .bool(server.options.listenFD >= 0),
                               "auth": .bool(s.auth.enabled), "rate_limit": .bool(s.auth.rateLimitEnabled)])
        if s.dashboardPort > 0 {
            // The same application on a second port (the reference setup serves the dashboard on 5173).
            let dash = HTTPServer(options: .init(host: s.apiHost, port: s.dashboardPort, threads: 2, connectionLimit: 1024,
                                                 timeoutSeconds: s.httpTimeout, maxBodyBytes: s.httpMaxBody),
                                  handle: { req in
                                      if req.path == "/" { return HTTPResponse(status: 302, headers: [("Location", "/dashboard/")]) }
                                      return service.handle(req)
                                  })
            try dash.start()
            dashboardServer = dash
        }
    }

    /// The native API's errors are {"error", "message", "details"}; the LangGraph surface at the
    /// root paths answers like the official server: {"detail": message}.
    static func renderError(_ req: HTTPRequest, _ e: HTTPError) -> HTTPResponse {
        let langGraph = ["/assistants", "/threads", "/runs", "/store", "/ok", "/info"].contains { req.path == $0 || req.path.hasPrefix($0 + "/") }
        if !langGraph || e.status == 429 { return e.response }
        return .json(e.status, ["detail": .string(e.message)], headers: e.headers)
    }

    public func notified(channel: String, payload: String) {
        if channel == Channel.runEvents { hub?.notified(payload) }
    }

    public func caughtUp() { hub?.resync() }

    public func updateMetrics(_ ctx: RoleContext) { Metrics.sseStreams.set([:], Double(hub?.count ?? 0)) }

    public func drain(_ ctx: RoleContext) {
        draining.store(true, ordering: .relaxed)
        server?.stop()
        dashboardServer?.stop()
    }
}

/// /health, /health/live, /health/ready.
struct HealthRoutes {
    let health: HealthMonitor
    let draining: @Sendable () -> Bool
    let metricsDir: String

    func register(_ api: APIBuilder) {
        let health = self.health
        let draining = self.draining
        let dir = metricsDir
        api.add(Operation(method: "GET", path: "/health", summary: "Health: 200 when the database answers, else 503", tag: "health",
                          success: (200, "Health"), also: [(503, "Health")])) { _ in
            let db = health.database
            var body: [String: JSON] = ["status": .string(db.ok ? "ok" : "unavailable"), "version": .string(duragraphVersion),
                                        "role": "api", "checks": ["database": .string(db.reason)]]
            // Under `duragraph serve`: the supervisor's view of every role (up, restarts, last exit).
            if let s = SupervisorState.read(dir: dir) { body["details"] = ["roles": s["roles"] ?? []] }
            return .json(db.ok ? 200 : 503, .object(body))
        }
        api.add(Operation(method: "GET", path: "/health/live", summary: "Liveness", tag: "health",
                          success: (200, "Health"))) { _ in .json(200, ["status": "ok"]) }
        api.add(Operation(method: "GET", path: "/health/ready", summary: "Readiness: 503 while starting or draining", tag: "health",
                          success: (200, "Health"), also: [(503, "Health")])) { _ in
            let db = health.database
            let ready = db.ok && !draining()
            return .json(ready ? 200 : 503, ["status": .string(ready ? "ready" : (draining() ? "draining" : "starting")),
                                             "checks": ["database": .string(db.reason)]])
        }
    }
}
