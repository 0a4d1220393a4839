import CSystemd
import DuraGraphCore
import DuraGraphStorage
import Glibc

/// `duragraph serve`: starts the four roles as children of this executable (and the embedded
/// PostgreSQL when DATABASE_URL is unset), restarts a child that dies with capped exponential
/// backoff, and speaks sd_notify to systemd for the whole group.
///
/// Children report READY=1 over a datagram socket this process owns (the sd_notify protocol,
/// NOTIFY_SOCKET pointing at it); the supervisor tells systemd READY=1 once all four are ready.
public final class Supervisor {
    public static let roles = ["api", "scheduler", "webhook-dispatcher", "metrics"]

    final class Child {
        let role: String
        var pid: pid_t = 0
        var ready = false
        var restarts = 0
        var startedAt = 0.0
        var restartAt: Double?
        var backoff: Backoff
        var lastExit: String?
        var everReady = false
        init(role: String, backoffCap: Double) {
            self.role = role
            backoff = Backoff(initial: 0.5, cap: backoffCap)
        }
    }

    let settings: Settings
    let configFile: String?
    let exe = Spawn.executablePath()
    var children: [Child]
    var postgres: EmbeddedPostgres?
    var postgresRestart: Double?
    var postgresBackoff = Backoff(initial: 0.5, cap: 10)
    var databaseURL = ""
    var notifyFD: Int32 = -1
    var notifyAddress = ""
    var systemdReady = false
    var lastStatus = ""
    /// The api socket passed by systemd (socket activation), handed to every api child; -1: none.
    var listenFD: Int32 = -1
    /// A role refused its configuration (exit status 2 before it was ever ready): stop, exit 2.
    var fatal: String?

    public init(settings: Settings, configFile: String?) {
        self.settings = settings
        self.configFile = configFile
        children = Self.roles.map { Child(role: $0, backoffCap: settings.restartBackoffMax) }
    }

    public func run() -> Int32 {
        Log.configure(level: settings.logLevel, json: settings.logJSON, role: "supervisor")
        Log.info("starting", ["version": .string(duragraphVersion), "roles": .string(Self.roles.joined(separator: ","))])
        do {
            try openNotifySocket()
            listenFD = try ListenSocket.takeForChildren()
            if listenFD >= 0 { Log.info("socket activation: the api adopts the passed socket", ["fd": .int(Int64(listenFD))]) }
            if let url = settings.databaseURL {
                databaseURL = url
            } else {
                status("starting embedded PostgreSQL")
                let pg = try EmbeddedPostgres(dataDir: settings.dataDir, binDir: settings.postgresBinDir)
                postgres = pg
                try pg.start()
                databaseURL = pg.url
            }
        } catch {
            Log.error("start-up failed", ["error": .string(String(describing: error))])
            if let pg = postgres { _ = pg.stop(timeout: 10) }
            return 1
        }
        for c in children { startChild(c) }
        status("starting roles")
        return loop()
    }

    // MARK: main loop

    private func loop() -> Int32 {
        let watchdog = Notify.watchdogInterval()
        var lastPing = 0.0
        // Test hook: after this many seconds the loop behaves as if wedged and stops pinging the watchdog.
        let wedgeAt = getenv("DURAGRAPH_TEST_WEDGE_AFTER").flatMap { Double(String(cString: $0)) }.map { Clock.monotonic() + $0 }
        var wedged = false
        var lastPublish = 0.0
        var lastPublished = ""
        while true {
            if let sig = Signals.poll(timeoutMs: 0), sig != SIGHUP {
                Log.info("signal received; draining", ["signal": .string(String(cString: strsignal(sig)))])
                return drain()
            }
            readNotifications(timeoutMs: 100)
            reapChildren()
            if let why = fatal {
                Log.error("stopping: \(why)")
                _ = drain()
                return 2
            }
            let now = Clock.monotonic()
            for c in children where c.pid == 0 {
                if let at = c.restartAt, now >= at { startChild(c) }
            }
            if let at = postgresRestart, now >= at, let pg = postgres {
                postgresRestart = nil
                do { try pg.restart() } catch {
                    Log.error("embedded PostgreSQL restart failed", ["error": .string(String(describing: error))])
                    postgresRestart = now + postgresBackoff.next()
                }
            }
            // A child that stayed up for a minute has earned a fresh backoff.
            for c in children where c.pid > 0 && now - c.startedAt > 60 { c.backoff.reset() }
            if postgres != nil, (postgres?.pid ?? 0) > 0 { postgresBackoff.reset() }
            let readyCount = children.filter(\.ready).count
            if !systemdReady && readyCount == children.count {
                systemdReady = true
                sendSystemd("READY=1")
                Log.info("all roles ready")
            }
            let down = children.filter { $0.pid == 0 }.map(\.role)
            status(down.isEmpty ? "\(readyCount)/\(children.count) roles ready"
                                : "\(readyCount)/\(children.count) roles ready; restarting \(down.joined(separator: ", "))")
            // Publish at once when a child starts, stops or becomes ready, so /health and the dashboard
            // never show a role as starting after it reported ready; otherwise refresh once a second.
            let snapshot = children.map { "\($0.pid):\($0.ready):\($0.restarts)" }.joined(separator: ",")
            if snapshot != lastPublished || now - lastPublish >= 1 {
                lastPublish = now
                lastPublished = snapshot
                publishState()
            }
            if let at = wedgeAt, now >= at, !wedged {
                wedged = true
                Log.warn("test hook DURAGRAPH_TEST_WEDGE_AFTER: supervisor loop wedged; no more watchdog pings")
            }
            if let w = watchdog, now - lastPing >= w / 2, !wedged, healthy() {
                sendSystemd("WATCHDOG=1")
                lastPing = now
            }
        }
    }

    /// Metrics (role up, restarts) and the supervisor's view for /health details.
    private func publishState() {
        for c in children {
            Metrics.roleUp.set(["child": c.role], c.pid > 0 ? 1 : 0)
            Metrics.roleRestarts.set(["child": c.role], Double(c.restarts))
        }
        try? makeDirs(settings.metricsDir)
        MetricsFile.publish(dir: settings.metricsDir, role: "supervisor")
        let state: JSON = ["supervisor_pid": .int(Int64(getpid())), "updated_at": .string(Clock.rfc3339(Clock.wallMillis())),
                           "roles": .array(children.map { c in
                               ["role": .string(c.role), "pid": c.pid > 0 ? .int(Int64(c.pid)) : .null, "up": .bool(c.pid > 0),
                                "ready": .bool(c.ready), "restarts": .int(Int64(c.restarts)), "last_exit": .from(c.lastExit)]
                           })]
        SupervisorState.write(dir: settings.metricsDir, state)
    }

    /// Healthy when no role has been down for long and PostgreSQL (if embedded) runs.
    private func healthy() -> Bool {
        let now = Clock.monotonic()
        if let pg = postgres, pg.pid == 0 { return false }
        return children.allSatisfy { $0.pid > 0 || now - $0.startedAt < 60 }
    }

    private func startChild(_ c: Child) {
        var env = Config.environment()
        env["DATABASE_URL"] = databaseURL
        env["NOTIFY_SOCKET"] = notifyAddress
        env["DURAGRAPH_SUPERVISED_ROLE"] = c.role
        env.removeValue(forKey: "WATCHDOG_USEC")
        env.removeValue(forKey: "WATCHDOG_PID")
        env.removeValue(forKey: "LISTEN_FDS")
        env.removeValue(forKey: "LISTEN_PID")
        env.removeValue(forKey: "LISTEN_FDNAMES")
        env.removeValue(forKey: ListenSocket.inheritedEnv)
        if c.role == "api" && listenFD >= 0 { env[ListenSocket.inheritedEnv] = String(listenFD) }
        var args = [c.role]
        if let f = configFile { args = ["--config", f] + args }
        c.restartAt = nil
        c.ready = false
        do {
            c.pid = try Spawn.start(exe, args, env: env)
            c.startedAt = Clock.monotonic()
            Log.info("role started", ["role": .string(c.role), "pid": .int(Int64(c.pid)), "restarts": .int(Int64(c.restarts))])
        } catch {
            Log.error("cannot start role", ["role": .string(c.role), "error": .string(error.description)])
            c.restartAt = Clock.monotonic() + c.backoff.next()
        }
    }

    private func reapChildren() {
        while let (pid, exit) = Spawn.reap() {
            if let pg = postgres, pid == pg.pid {
                let delay = postgresBackoff.next()
                Log.error("embedded PostgreSQL exited; restarting", ["why": .string(exit.description), "in_s": .double(round2(delay))])
                postgresRestart = Clock.monotonic() + delay
                continue
            }
            guard let c = children.first(where: { $0.pid == pid }) else { continue }
            c.pid = 0
            c.ready = false
            c.restarts += 1
            c.lastExit = exit.description
            if case .code(2) = exit, !c.everReady {
                fatal = "role \(c.role) refused its configuration (exit status 2); see its log line above"
                continue
            }
            let delay = c.backoff.next()
            c.restartAt = Clock.monotonic() + delay
            Log.warn("role exited; restarting", ["role": .string(c.role), "why": .string(exit.description),
                                                 "in_s": .double(round2(delay)), "restarts": .int(Int64(c.restarts))])
        }
    }

    // MARK: drain

    private func drain() -> Int32 {
        sendSystemd("STOPPING=1")
        status("draining")
        for c in children where c.pid > 0 { kill(c.pid, SIGTERM) }
        let deadline = Clock.monotonic() + settings.drainTimeout
        var clean = true
        while children.contains(where: { $0.pid > 0 }) && Clock.monotonic() < deadline {
            while let (pid, exit) = Spawn.reap() {
                if let c = children.first(where: { $0.pid == pid }) {
                    c.pid = 0
                    if !exit.isClean { clean = false }
                    Log.info("role stopped", ["role": .string(c.role), "how": .string(exit.description)])
                } else if let pg = postgres, pid == pg.pid {
                    postgres?.pid = 0
                }
            }
            Clock.sleep(seconds: 0.05)
        }
        for c in children where c.pid > 0 {
            Log.warn("role did not drain in time; killing", ["role": .string(c.role), "drain_timeout_s": .double(settings.drainTimeout)])
            kill(c.pid, SIGKILL)
            _ = Spawn.wait(c.pid, seconds: 5)
            c.pid = 0
            clean = false
        }
        if let pg = postgres {
            if !pg.stop(timeout: 15) { clean = false }
            Log.info("embedded PostgreSQL stopped")
        }
        MetricsFile.remove(dir: settings.metricsDir, role: "supervisor")
        SupervisorState.remove(dir: settings.metricsDir)
        Log.info(clean ? "stopped cleanly" : "stopped after forcing some processes")
        return clean ? 0 : 1
    }

    // MARK: notify socket (children -> supervisor) and systemd (supervisor -> systemd)

    private func openNotifySocket() throws(ConfigError) {
        notifyFD = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard notifyFD >= 0 else { throw ConfigError("cannot create notify socket") }
        // Abstract namespace: nothing on disk to clean up, and the name is private to this run.
        let name = "duragraph-\(getpid())-\(Random.uuid().prefix(8))"
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            p[0] = 0
            for (i, b) in bytes.enumerated() { p[i + 1] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(notifyFD, $0, len) } }
        guard rc == 0 else { throw ConfigError("cannot bind notify socket: \(String(cString: strerror(errno)))") }
        notifyAddress = "@" + name
    }

    private func readNotifications(timeoutMs: Int32) {
        var pfd = pollfd(fd: notifyFD, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMs) > 0 else { return }
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(notifyFD, &buf, buf.count, Int32(MSG_DONTWAIT))
            if n <= 0 { break }
            var fields: [String: String] = [:]
            for line in String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n") {
                if let eq = line.firstIndex(of: "=") { fields[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
            }
            guard let role = fields["DURAGRAPH_ROLE"], let pidText = fields["DURAGRAPH_PID"], let pid = pid_t(pidText),
                  let c = children.first(where: { $0.role == role && $0.pid == pid }) else { continue }
            if fields["READY"] == "1" && !c.ready {
                c.ready = true
                c.everReady = true
                Log.info("role ready", ["role": .string(role), "pid": .int(Int64(pid))])
            }
        }
    }

    private func status(_ s: String) {
        guard s != lastStatus else { return }
        lastStatus = s
        sendSystemd("STATUS=\(s)")
    }

    private func sendSystemd(_ s: String) { _ = sd_notify(0, s) }
}

func round2(_ d: Double) -> Double { (d * 100).rounded() / 100 }
