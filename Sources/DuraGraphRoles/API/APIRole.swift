import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage
import Synchronization

/// The `api` role: HTTP on API_HOST:API_PORT.
public final class APIRole: Role, @unchecked Sendable {   // server is set once in start()
    public let name = "api"
    public let channels = [Channel.runEvents]
    private var server: HTTPServer?
    private let draining = Atomic<Bool>(false)

    public init() {}

    public func start(_ ctx: RoleContext) throws {
        let health = HealthMonitor(url: ctx.databaseURL, stop: ctx.stop)
        health.start()
        let router = Router()
        HealthRoutes(health: health, draining: { self.draining.load(ordering: .relaxed) }).register(router)
        let service = HTTPService(router: router)
        let s = ctx.settings
        let server = HTTPServer(options: .init(host: s.apiHost, port: s.apiPort, threads: s.httpThreads,
                                               connectionLimit: s.httpConnectionLimit, timeoutSeconds: s.httpTimeout,
                                               maxBodyBytes: s.httpMaxBody),
                                handle: { service.handle($0) })
        try server.start()
        self.server = server
        Log.info("listening", ["address": .string("\(s.apiHost):\(server.port)")])
    }

    public func drain(_ ctx: RoleContext) {
        draining.store(true, ordering: .relaxed)
        server?.stop()
    }
}

/// /health, /health/live, /health/ready.
struct HealthRoutes {
    let health: HealthMonitor
    let draining: @Sendable () -> Bool

    func register(_ r: Router) {
        let health = self.health
        let draining = self.draining
        r.get("/health") { _ in
            let db = health.database
            let body: JSON = ["status": .string(db.ok ? "ok" : "unavailable"), "version": .string(duragraphVersion),
                              "role": "api", "checks": ["database": .string(db.reason)]]
            return .json(db.ok ? 200 : 503, body)
        }
        r.get("/health/live") { _ in .json(200, ["status": "ok"]) }
        r.get("/health/ready") { _ in
            let db = health.database
            let ready = db.ok && !draining()
            return .json(ready ? 200 : 503, ["status": .string(ready ? "ready" : (draining() ? "draining" : "starting")),
                                             "checks": ["database": .string(db.reason)]])
        }
    }
}
