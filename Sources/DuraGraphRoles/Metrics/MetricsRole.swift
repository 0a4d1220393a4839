import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage
import Glibc

/// The `metrics` role: one Prometheus page (METRICS_HOST:METRICS_PORT) merging what every local
/// process publishes, plus gauges read from the database (runs by status, queue age, webhook backlog).
public final class MetricsRole: Role, @unchecked Sendable {   // server is set once in start()
    public let name = "metrics"
    public let channels = [Channel.control]
    private var server: HTTPServer?
    private var lastDatabaseRead = 0.0

    public init() {}

    public func start(_ ctx: RoleContext) throws {
        let router = Router()
        let dir = ctx.settings.metricsDir
        router.get("/metrics") { _ in .text(200, MetricsFile.page(dir: dir), contentType: "text/plain; version=0.0.4; charset=utf-8") }
        router.get("/health") { _ in .json(200, ["status": "ok", "role": "metrics"]) }
        let service = HTTPService(router: router, accessLog: false, observer: httpMetricsObserver)
        let s = ctx.settings
        let server = HTTPServer(options: .init(host: s.metricsHost, port: s.metricsPort, threads: 2,
                                               connectionLimit: 256, timeoutSeconds: 30, maxBodyBytes: 64 * 1024),
                                handle: { service.handle($0) })
        try server.start()
        self.server = server
    }

    /// Database gauges, every 5 s (one process per host reads them: this one).
    public func updateMetrics(_ ctx: RoleContext) {
        guard Clock.monotonic() - lastDatabaseRead >= 5 else { return }
        lastDatabaseRead = Clock.monotonic()
        do {
            let g = try MetricsSQL(pool: ctx.pool).gauges()
            Metrics.runsByStatus.replaceAll(Dictionary(uniqueKeysWithValues: g.runsByStatus.map { (["status": $0.key], $0.value) }))
            Metrics.oldestQueued.set([:], g.oldestQueuedSeconds)
            Metrics.webhookBacklog.set([:], g.webhookBacklog)
            Metrics.webhookOldestDue.set([:], g.webhookOldestDueSeconds)
        } catch {
            Log.warn("reading database gauges failed", ["error": .string(String(describing: error))])
        }
    }

    public func drain(_ ctx: RoleContext) { server?.stop() }
}
