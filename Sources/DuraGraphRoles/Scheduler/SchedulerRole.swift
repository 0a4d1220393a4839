import DuraGraphCore
import DuraGraphEngine
import DuraGraphStorage
import Glibc
import Synchronization

/// The `scheduler` role: claims queued runs (woken by NOTIFY on the runs channel, polling slowly as
/// a fallback) and executes them on a fixed set of worker threads, holding a heartbeated lease on
/// each. Any scheduler recovers the runs of one that died once their leases expire.
public final class SchedulerRole: Role, @unchecked Sendable {   // mutable state is behind locks
    public let name = "scheduler"
    public let channels = [Channel.runs, Channel.control]

    /// host:pid:random: unique per process, readable in the runs table.
    let owner: String
    let wake = WakeSignal()
    let queue = WorkQueue<SchedulerSQL.Claimed>()
    let busy = Atomic<Int>(0)
    let cancels = Mutex<Set<String>>([])
    let active = Mutex<Set<String>>([])
    let draining = Atomic<Bool>(false)
    /// Monotonic time at which a run announced as delayed becomes claimable (infinity: none).
    let announcedDelayed = Mutex<Double>(.infinity)
    let stopped = Event()
    private var sql: SchedulerSQL?
    private var settings: Settings?

    public init() {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        owner = "\(String(decoding: host.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)):\(getpid()):\(Random.uuid().prefix(8))"
    }

    public func start(_ ctx: RoleContext) throws {
        let s = ctx.settings
        let sql = SchedulerSQL(pool: ctx.pool)
        self.sql = sql
        self.settings = s
        let llm = ProviderClient(settings: LLMSettings(openAIBaseURL: s.openAIBaseURL, openAIKey: s.openAIKey,
                                                       anthropicBaseURL: s.anthropicBaseURL, anthropicKey: s.anthropicKey,
                                                       timeout: s.llmTimeout, maxRetries: s.llmMaxRetries),
                                 observer: { provider, model, outcome, seconds, tokensIn, tokensOut in
            Metrics.llmRequests.inc(["provider": provider, "model": model, "outcome": outcome])
            Metrics.llmDuration.observe(["provider": provider, "model": model], seconds)
            Metrics.llmTokens.inc(["provider": provider, "model": model, "direction": "input"], by: Double(tokensIn))
            Metrics.llmTokens.inc(["provider": provider, "model": model, "direction": "output"], by: Double(tokensOut))
        })
        for i in 0..<s.schedulerConcurrency {
            startThread(name: "run-\(i)") {
                while case .item(let run) = self.queue.pop() {
                    let exec = RunExecutor(run: run, owner: self.owner, sql: sql, settings: s, llm: llm, scheduler: self)
                    exec.execute()
                    self.active.withLock { _ = $0.remove(run.runID) }
                    self.cancels.withLock { _ = $0.remove(run.runID) }
                    self.busy.subtract(1, ordering: .relaxed)
                    self.wake.signal()
                }
            }
        }
        startThread(name: "claim") { self.claimLoop(sql, s) }
        startThread(name: "lease") { self.leaseLoop(sql, s) }
        CronTicker.start(CronsSQL(pool: ctx.pool), stop: stopped, wake: wake)
        Log.info("scheduler started", ["owner": .string(owner), "concurrency": .int(Int64(s.schedulerConcurrency))])
    }

    public func notified(channel: String, payload: String) {
        if channel == Channel.control, payload.hasPrefix("cancel:") {
            let id = String(payload.dropFirst(7))
            if active.withLock({ $0.contains(id) }) { cancels.withLock { _ = $0.insert(id) } }
        } else {
            if payload.hasPrefix("delayed:"), let seconds = Double(payload.dropFirst(8)) {
                let due = Clock.monotonic() + seconds
                announcedDelayed.withLock { $0 = min($0, due) }
            }
            wake.signal()
        }
    }

    public func caughtUp() { wake.signal() }

    public func updateMetrics(_ ctx: RoleContext) { Metrics.leasesHeld.set([:], Double(busy.load(ordering: .relaxed))) }

    func shouldStop(_ runID: String) -> Bool { cancels.withLock { $0.contains(runID) } }

    private func claimLoop(_ sql: SchedulerSQL, _ s: Settings) {
        var backoff = Backoff(initial: 0.2, cap: 5)
        var lastAnalyze = -Double.infinity
        // When the earliest delayed (after_seconds) run becomes claimable, as last read from the
        // database (nil: read it again). Creations announce theirs, so the database is asked only
        // at start, after a quiet poll interval, and once that time has come.
        var delayedDue: Double?
        while !draining.load(ordering: .relaxed) {
            let free = s.schedulerConcurrency - busy.load(ordering: .relaxed)
            if free > 0 {
                do {
                    let started = Clock.monotonic()
                    let runs = try sql.claim(owner: owner, limit: free, leaseSeconds: s.leaseSeconds)
                    backoff.reset()
                    // A backlog that formed faster than autovacuum analyzes (a new database, a
                    // burst) leaves the planner thinking the queue is empty, and the claim's
                    // per-thread checks go quadratic. Fresh statistics fix the plan at once.
                    let took = Clock.monotonic() - started
                    if took > 0.05 && Clock.monotonic() - lastAnalyze > 60 {
                        lastAnalyze = Clock.monotonic()
                        Log.info("claiming runs was slow; refreshing the planner's statistics of runs", ["claim_ms": .int(Int64(took * 1000))])
                        do { try sql.analyzeRuns() } catch { Log.warn("ANALYZE runs failed", ["error": .string(String(describing: error))]) }
                    }
                    for r in runs {
                        Metrics.runsStarted.inc()
                        if let w = r.queueWait { Metrics.queueWait.observe([:], w) }
                        busy.add(1, ordering: .relaxed)
                        active.withLock { _ = $0.insert(r.runID) }
                        queue.push(r)
                    }
                    if runs.count == free { continue }   // maybe more waiting
                } catch {
                    // Two schedulers racing for one thread's first run: the unique index refuses
                    // the second claim; just try again.
                    if (error as? PGError)?.sqlState != PGError.uniqueViolation {
                        Log.warn("claim failed", ["error": .string(String(describing: error))])
                        wake.wait(seconds: backoff.next())
                    }
                    continue
                }
            }
            // A run created with after_seconds becomes claimable without any notification; with
            // every worker busy, a finishing worker wakes the loop anyway.
            var wait = s.pollInterval
            if free > 0 {
                let now = Clock.monotonic()
                if delayedDue == nil || delayedDue! <= now {
                    delayedDue = (try? sql.nextDelayedStart()).map { $0.map { now + $0 } ?? .infinity } ?? nil
                }
                let due = min(delayedDue ?? .infinity, announcedDelayed.withLock { v in defer { v = .infinity }; return v })
                delayedDue = min(delayedDue ?? due, due)
                if due.isFinite { wait = min(wait, max(0.01, due - now)) }
            }
            if !wake.wait(seconds: wait) { delayedDue = nil }
        }
        stopped.set()
    }

    private func leaseLoop(_ sql: SchedulerSQL, _ s: Settings) {
        let period = max(0.2, s.leaseSeconds / 3)
        var lastReap = 0.0
        while !stopped.isSignalled {
            do {
                for id in try sql.heartbeat(owner: owner, leaseSeconds: s.leaseSeconds) { cancels.withLock { _ = $0.insert(id) } }
                if Clock.monotonic() - lastReap >= period {
                    lastReap = Clock.monotonic()
                    let recovered = try sql.recoverExpired(maxAttempts: s.maxAttempts)
                    for r in recovered {
                        Metrics.runsRecovered.inc(["result": r.requeued ? "requeued" : "failed"])
                        Log.warn("recovered a run whose scheduler stopped", ["run_id": .string(r.runID), "requeued": .bool(r.requeued)])
                    }
                    if recovered.contains(where: \.requeued) { wake.signal() }
                    let expired = try sql.deleteExpiredThreads()
                    if expired > 0 { Log.info("deleted expired threads", ["count": .int(Int64(expired))]) }
                }
            } catch {
                Log.warn("lease upkeep failed", ["error": .string(String(describing: error))])
            }
            stopped.wait(seconds: period)
        }
    }

    /// Drain: stop claiming; running executors stop at their next checkpoint and hand their run
    /// back to the queue; wait for them (bounded by the supervisor's drain timeout).
    public func drain(_ ctx: RoleContext) {
        draining.store(true, ordering: .relaxed)
        wake.signal()
        queue.close()
        let deadline = Clock.monotonic() + max(1, ctx.settings.drainTimeout - 2)
        while busy.load(ordering: .relaxed) > 0 && Clock.monotonic() < deadline { Clock.sleep(seconds: 0.05) }
        stopped.set()
        // Anything still queued locally was never started: give it back.
        while case .item(let r) = queue.pop(timeout: 0) { try? sql?.release(owner: owner, runID: r.runID) }
    }
}
