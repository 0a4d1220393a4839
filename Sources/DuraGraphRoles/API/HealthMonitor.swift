import DuraGraphCore
import DuraGraphStorage
import Synchronization

/// Checks the database in the background once a second, so GET /health answers at once from the
/// last result even when PostgreSQL hangs (a check that has not finished for 2 s counts as failed).
public final class HealthMonitor: Sendable {
    struct State { var ok = false; var error = "not checked yet"; var checkedAt = 0.0; var checkStarted = 0.0 }
    private let state = Mutex(State())
    let url: String
    let stop: Event

    public init(url: String, stop: Event) {
        self.url = url
        self.stop = stop
    }

    public func start() {
        startThread(name: "health") {
            var conn: PGConnection?
            while !self.stop.isSignalled {
                let t = Clock.monotonic()
                self.state.withLock { $0.checkStarted = t }
                do {
                    if conn == nil || conn?.isHealthy == false {
                        conn = try PGConnection(url: self.url, applicationName: "duragraph-\(Log.role)-health", connectTimeout: 2)
                    }
                    try conn!.query("SELECT 1", timeout: 2)
                    self.state.withLock { $0 = State(ok: true, error: "", checkedAt: Clock.monotonic(), checkStarted: 0) }
                } catch {
                    conn = nil
                    let msg = (error as? PGError)?.kind == .timeout ? "timeout" : "unreachable"
                    self.state.withLock { $0 = State(ok: false, error: msg, checkedAt: Clock.monotonic(), checkStarted: 0) }
                }
                self.stop.wait(seconds: 1)
            }
        }
    }

    /// (ok, reason) for the database check.
    public var database: (ok: Bool, reason: String) {
        let s = state.withLock { $0 }
        let now = Clock.monotonic()
        if s.checkStarted > 0 && now - s.checkStarted > 2 { return (false, "timeout") }
        if now - s.checkedAt > 5 { return (false, s.checkedAt == 0 ? "starting" : "stale") }
        return (s.ok, s.ok ? "ok" : s.error)
    }
}
