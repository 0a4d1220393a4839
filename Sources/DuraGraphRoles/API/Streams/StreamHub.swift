import DuraGraphCore
import DuraGraphStorage
import Synchronization

/// Fans run events out to this process's SSE subscribers. The api role's one LISTEN connection
/// reports "run_id:seq" after each commit; the hub reads the new events once per run (not once per
/// subscriber) and hands them to every subscriber of that run or of its thread. "id:run-deleted"
/// and "id:thread-deleted" (database triggers) end the streams of what was deleted: no terminal
/// event will ever come for them.
final class StreamHub: Sendable {
    let events: EventsSQL
    private let subscribers = Mutex<[ObjectIdentifier: Subscriber]>([:])
    private let runThreads = Mutex<[String: String]>([:])
    private let work = WorkQueue<String>()
    static let heartbeatSeconds = 15.0

    init(events: EventsSQL, stop: Event) {
        self.events = events
        startThread(name: "stream-fanout") {
            while case .item(let payload) = self.work.pop() { self.fanOut(payload) }
        }
        startThread(name: "stream-beat") {
            var tick = 0
            while !stop.wait(seconds: 1) {
                tick += 1
                // Every subscriber every 15 s; one whose run ends when its client leaves, every
                // second: a write is how a suspended connection notices the client is gone.
                let all = tick % Int(Self.heartbeatSeconds) == 0
                for s in self.subscribers.withLock({ Array($0.values) }) where all || s.watchesDisconnect { s.heartbeat() }
            }
            self.work.close()
        }
    }

    var count: Int { subscribers.withLock { $0.count } }

    func add(_ s: Subscriber) { subscribers.withLock { $0[ObjectIdentifier(s)] = s } }
    func remove(_ s: Subscriber) { _ = subscribers.withLock { $0.removeValue(forKey: ObjectIdentifier(s)) } }

    /// NOTIFY on the run-events channel (the listener thread: hand off, never block it).
    func notified(_ payload: String) { work.push(payload) }

    /// The listener reconnected: notifications may be lost, so every subscriber re-reads the log.
    func resync() {
        for s in subscribers.withLock({ Array($0.values) }) { s.resync() }
    }

    enum Fetched { case events([EventsSQL.Event]), gone, failed }

    /// A catch-up read of the log. It also notices a run or thread deleted before the subscriber
    /// joined the hub, whose deletion notice it missed.
    func fetch(_ scope: Subscriber.Scope, after: Int64, limit: Int) -> Fetched {
        do {
            switch scope {
            case .run(let id):
                guard let found = try events.runWithEvents(id, after: after, limit: limit) else { return .gone }
                return .events(found.events)
            case .thread(let id):
                let evs = try events.thread(id, after: after, limit: limit)
                if evs.isEmpty, try !events.threadExists(id) { return .gone }
                return .events(evs)
            }
        } catch {
            return .failed
        }
    }

    private func fanOut(_ payload: String) {
        guard let colon = payload.firstIndex(of: ":") else { return }
        let runID = String(payload[..<colon])
        let subs = subscribers.withLock { Array($0.values) }
        switch payload[payload.index(after: colon)...] {
        case "run-deleted":
            runThreads.withLock { _ = $0.removeValue(forKey: runID) }
            for s in subs where s.scope == .run(runID) { s.gone() }
            return
        case "thread-deleted":
            let threadID = runID
            for s in subs where s.scope == .thread(threadID) { s.gone() }
            return
        default: break
        }
        if subs.isEmpty { return }
        let runSubs = subs.filter { $0.scope == .run(runID) }
        if !runSubs.isEmpty, let from = runSubs.map(\.cursor).min(), let evs = try? events.run(runID, after: from) {
            for s in runSubs { s.deliver(evs) }
        }
        let threadScoped = subs.filter { if case .thread = $0.scope { return true }; return false }
        guard !threadScoped.isEmpty, let threadID = thread(of: runID) else { return }
        let threadSubs = threadScoped.filter { $0.scope == .thread(threadID) }
        if !threadSubs.isEmpty, let from = threadSubs.map(\.cursor).min(), let evs = try? events.thread(threadID, after: from) {
            for s in threadSubs { s.deliver(evs) }
        }
    }

    private func thread(of runID: String) -> String? {
        if let t = runThreads.withLock({ $0[runID] }) { return t }
        guard let t = try? events.runInfo(runID)?.threadID else { return nil }
        runThreads.withLock {
            if $0.count > 10_000 { $0.removeAll() }
            $0[runID] = t
        }
        return t
    }
}
