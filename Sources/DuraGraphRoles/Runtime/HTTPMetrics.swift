import DuraGraphCore
import DuraGraphHTTP

/// Counts requests by route template (never the raw path), method and status.
let httpMetricsObserver: HTTPService.Observer = { method, route, status, seconds in
    Metrics.httpRequests.inc(["route": route, "method": method, "status": String(status)])
    Metrics.httpDuration.observe(["route": route, "method": method], seconds)
}
