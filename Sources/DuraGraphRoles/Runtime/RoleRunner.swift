import DuraGraphCore
import DuraGraphStorage
import Glibc

/// NOTIFY channels. Payloads are small keys (ids), never data.
public enum Channel {
    public static let runs = "duragraph_runs"
    public static let runEvents = "duragraph_run_events"
    public static let webhooks = "duragraph_webhooks"
    public static let control = "duragraph_control"
}

/// What a role gets from the runtime.
public final class RoleContext: Sendable {
    public let settings: Settings
    public let databaseURL: String
    public let pool: PGPool
    /// Set on SIGTERM/SIGINT: loops finish their step and return.
    public let stop: Event

    init(settings: Settings, databaseURL: String, pool: PGPool, stop: Event) {
        self.settings = settings
        self.databaseURL = databaseURL
        self.pool = pool
        self.stop = stop
    }
}

/// One long-lived process role: start its loops, then drain when asked to stop.
public protocol Role: Sendable {
    var name: String { get }
    /// Channels this role LISTENs on.
    var channels: [String] { get }
    /// Starts the role's loops; returns once it can do its job (then READY=1 is sent).
    func start(_ ctx: RoleContext) throws
    /// A notification arrived on one of `channels`.
    func notified(channel: String, payload: String)
    /// Notifications may have been missed (first connect, reconnect): catch up from the tables.
    func caughtUp()
    /// SIGTERM: stop taking work, finish or hand back what is in flight.
    func drain(_ ctx: RoleContext)
    /// Refresh role-specific gauges before the metrics snapshot is published (once a second).
    func updateMetrics(_ ctx: RoleContext)
}

public extension Role {
    func notified(channel: String, payload: String) {}
    func caughtUp() {}
    func updateMetrics(_ ctx: RoleContext) {}
}

public enum RoleRunner {
    /// Runs `role` until SIGTERM/SIGINT; returns the process exit status.
    public static func run(_ role: any Role, settings: Settings) -> Int32 {
        Log.configure(level: settings.logLevel, json: settings.logJSON, role: role.name)
        let stop = Event()
        Signals.onTerminate(stop)
        guard let url = settings.databaseURL else {
            Log.error("DATABASE_URL is not set; run the role under `duragraph serve` or set DATABASE_URL")
            return 2
        }
        Notify.send("STATUS=connecting to PostgreSQL")
        // Migrations: every process applies them (once, under an advisory lock) before working.
        var backoff = Backoff(initial: 0.2, cap: 5)
        while true {
            do {
                try Migrator.migrate(url: url)
                break
            } catch {
                if stop.isSignalled { return 0 }
                Log.warn("database not ready; retrying", ["error": .string(String(describing: error))])
                stop.wait(seconds: backoff.next())
            }
        }
        let pool = PGPool(url: url, size: settings.dbPoolSize, applicationName: "duragraph-\(role.name)",
                          statementTimeout: settings.dbStatementTimeout)
        let ctx = RoleContext(settings: settings, databaseURL: url, pool: pool, stop: stop)
        let listener = PGListener(url: url, channels: role.channels,
                                  onNotify: { ch, payload in role.notified(channel: ch, payload: payload) },
                                  onGap: { role.caughtUp() })
        if !role.channels.isEmpty {
            listener.start()
            while !listener.waitConnected(seconds: 1) {
                if stop.isSignalled { return 0 }
            }
        }
        do {
            try role.start(ctx)
        } catch let e as ConfigError {
            Log.error("configuration error: \(e.description)")
            return 2
        } catch {
            Log.error("role failed to start", ["error": .string(String(describing: error))])
            return 1
        }
        let dir = settings.metricsDir
        do { try makeDirs(dir) } catch { Log.warn("metrics directory unusable", ["error": .string(error.description)]) }
        let watchdog = Notify.watchdogInterval()
        startThread(name: "metrics-pub") {
            while !stop.isSignalled {
                let p = pool.stats
                Metrics.poolConnections.set(["state": "in_use"], Double(p.inUse))
                Metrics.poolConnections.set(["state": "idle"], Double(p.idle))
                Metrics.listenReconnects.set([:], Double(listener.reconnectCount))
                role.updateMetrics(ctx)
                MetricsFile.publish(dir: dir, role: role.name)
                // A role run by its own unit (duragraph-role@.service) keeps systemd's watchdog fed.
                if watchdog != nil { Notify.send("WATCHDOG=1") }
                stop.wait(seconds: 1)
            }
        }
        Notify.send("READY=1\nSTATUS=\(role.name) ready")
        Log.info("ready", ["version": .string(duragraphVersion)])
        while !stop.wait(seconds: 3600) {}
        Notify.send("STOPPING=1")
        role.drain(ctx)
        listener.stop()
        MetricsFile.remove(dir: dir, role: role.name)
        Log.info("stopped")
        return 0
    }
}
