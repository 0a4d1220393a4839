import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage
import Glibc

/// The `metrics` role: one Prometheus page on METRICS_HOST:METRICS_PORT.
public final class MetricsRole: Role, @unchecked Sendable {   // server is set once in start()
    public let name = "metrics"
    public let channels = [Channel.control]
    private var server: HTTPServer?
    let startTime = Double(Clock.wallMillis()) / 1000

    public init() {}

    public func start(_ ctx: RoleContext) throws {
        let router = Router()
        let started = startTime
        router.get("/metrics") { _ in
            let page = """
            # HELP duragraph_build_info Build information.
            # TYPE duragraph_build_info gauge
            duragraph_build_info{version="\(duragraphVersion)"} 1
            # HELP duragraph_process_start_time_seconds Start time of the metrics role since the Unix epoch.
            # TYPE duragraph_process_start_time_seconds gauge
            duragraph_process_start_time_seconds{role="metrics"} \(started)

            """
            return .text(200, page, contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/health") { _ in .json(200, ["status": "ok", "role": "metrics"]) }
        let service = HTTPService(router: router, accessLog: false)
        let s = ctx.settings
        let server = HTTPServer(options: .init(host: s.metricsHost, port: s.metricsPort, threads: 2,
                                               connectionLimit: 256, timeoutSeconds: 30, maxBodyBytes: 64 * 1024),
                                handle: { service.handle($0) })
        try server.start()
        self.server = server
    }

    public func drain(_ ctx: RoleContext) { server?.stop() }
}
