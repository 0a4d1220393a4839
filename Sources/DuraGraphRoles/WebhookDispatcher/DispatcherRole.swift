import DuraGraphCore
import DuraGraphStorage
import DuraGraphWebhooks
import Glibc
import Synchronization

/// The `webhook-dispatcher` role: claims due deliveries from the outbox (woken by NOTIFY, polling
/// as a fallback), signs and sends them on a pool of worker threads, records every attempt, and
/// schedules retries with exponential backoff and jitter.
public final class DispatcherRole: Role, @unchecked Sendable {   // set once in start()
    public let name = "webhook-dispatcher"
    public let channels = [Channel.webhooks]

    let owner = "\(getpid()):\(Random.uuid().prefix(8))"
    let wake = WakeSignal()
    let queue = WorkQueue<WebhooksSQL.Due>()
    let busy = Atomic<Int>(0)
    let draining = Atomic<Bool>(false)
    public init() {}

    public func start(_ ctx: RoleContext) throws {
        let s = ctx.settings
        let policy = try AddressPolicy(allowedCIDRs: s.webhookAllowedCIDRs)
        let sql = WebhooksSQL(pool: ctx.pool)
        let runSecret = try s.webhookSecret ?? sql.runWebhookSecret(generate: StandardWebhooks.generateSecret)
        for i in 0..<s.webhookConcurrency {
            startThread(name: "webhook-\(i)") {
                let sender = WebhookSender(policy: policy)
                while case .item(let d) = self.queue.pop() {
                    self.deliver(d, sender: sender, sql: sql, settings: s)
                    self.busy.subtract(1, ordering: .relaxed)
                    self.wake.signal()
                }
            }
        }
        startThread(name: "webhook-claim") {
            while !self.draining.load(ordering: .relaxed) {
                let free = s.webhookConcurrency * 2 - self.busy.load(ordering: .relaxed)
                if free > 0 {
                    do {
                        let due = try sql.claim(owner: self.owner, limit: free, leaseSeconds: s.webhookTimeout + 30, runSecret: runSecret)
                        for d in due { self.busy.add(1, ordering: .relaxed); self.queue.push(d) }
                        if due.count == free { continue }
                    } catch {
                        Log.warn("claiming deliveries failed", ["error": .string(String(describing: error))])
                    }
                }
                self.wake.wait(seconds: s.webhookPollInterval)
            }
        }
    }

    public func notified(channel: String, payload: String) { wake.signal() }
    public func caughtUp() { wake.signal() }

    func deliver(_ d: WebhooksSQL.Due, sender: WebhookSender, sql: WebhooksSQL, settings s: Settings) {
        let msgID = "msg_" + d.deliveryID   // stable across retries: receivers de-duplicate on it
        let ts = Clock.unixSeconds()
        let headers = ["Content-Type: application/json", "webhook-id: \(msgID)", "webhook-timestamp: \(ts)",
                       "webhook-signature: " + StandardWebhooks.signature(id: msgID, timestamp: ts, body: d.payload, secrets: d.secrets)]
        let started = Clock.wallMillis()
        let r = sender.post(url: d.url, headers: headers, body: d.payload, timeout: s.webhookTimeout)
        let attempt = WebhooksSQL.Attempt(startedAtMillis: started, statusCode: r.status, durationMs: (r.seconds * 100_000).rounded() / 100,
                                          error: r.error, responseBody: r.body)
        let outcome = Self.outcome(r, attempts: d.attempts + 1, schedule: s.webhookRetrySchedule)
        Log.debug("delivery attempt", ["delivery_id": .string(d.deliveryID), "status": r.status.map { .int(Int64($0)) } ?? .null,
                                       "error": .from(r.error), "retry_after": r.retryAfter.map(JSON.double) ?? .null,
                                       "outcome": .string("\(outcome)")])
        switch outcome {
        case .succeeded:
            Metrics.webhookAttempts.inc(["outcome": "success"])
            Metrics.webhookDeliveries.inc(["outcome": "succeeded"])
            Metrics.webhookLatency.observe([:], max(0, Double(Clock.wallMillis()) / 1000 - d.createdAt))
        case .retry:
            Metrics.webhookAttempts.inc(["outcome": "retry"])
        case .failed:
            Metrics.webhookAttempts.inc(["outcome": "failure"])
            Metrics.webhookDeliveries.inc(["outcome": "failed"])
        }
        do {
            let failingFor = try sql.record(owner: owner, d, attempt, outcome)
            if case .failed(let reason?) = outcome {
                Log.warn("webhook endpoint disabled", ["webhook_id": .from(d.webhookID), "reason": .string(reason)])
            } else if let wid = d.webhookID, failingFor > s.webhookDisableAfter {
                try sql.disable(webhookID: wid, reason: "failing continuously for \(Int(failingFor))s")
                Log.warn("webhook endpoint disabled after failing continuously", ["webhook_id": .string(wid),
                                                                                  "failing_s": .int(Int64(failingFor))])
            }
        } catch {
            Log.warn("recording a delivery failed; it will be retried after its lease", ["delivery_id": .string(d.deliveryID),
                                                                                         "error": .string(String(describing: error))])
        }
    }

    /// 2xx: done. 410: done, endpoint disabled. Otherwise retry on the schedule (Retry-After on
    /// 429/503 wins), until it is exhausted.
    static func outcome(_ r: WebhookSender.Result, attempts: Int, schedule: [Double]) -> WebhooksSQL.Outcome {
        if let s = r.status, (200..<300).contains(s) { return .succeeded }
        if r.status == 410 { return .failed(disableEndpoint: "endpoint answered 410 Gone") }
        if r.error?.hasPrefix("refused:") == true || r.error == "not an http(s) URL" { return .failed(disableEndpoint: nil) }
        guard attempts <= schedule.count else { return .failed(disableEndpoint: nil) }
        var delay = schedule[attempts - 1] * Double.random(in: 0.8...1.2)
        // Retry-After wins, within reason: a day at most, so a delivery is never parked forever.
        if (r.status == 429 || r.status == 503), let after = r.retryAfter { delay = min(after, 86400) }
        return .retry(delay: delay)
    }

    public func drain(_ ctx: RoleContext) {
        draining.store(true, ordering: .relaxed)
        wake.signal()
        queue.close()
        let deadline = Clock.monotonic() + max(1, ctx.settings.drainTimeout - 2)
        while busy.load(ordering: .relaxed) > 0 && Clock.monotonic() < deadline { Clock.sleep(seconds: 0.05) }
    }
}
