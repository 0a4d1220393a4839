import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage
import Glibc

/// One SSE client. It starts in catch-up mode: the first reads come from the event log after the
/// client's last id; then live events pushed by the hub. A client that falls too far behind drops
/// its buffer and catches up from the log again, so a slow reader never holds memory or slows
/// the run. Every event is delivered once, in order: each one passes the cursor check.
final class Subscriber: StreamSource, @unchecked Sendable {   // state behind `lock`
    enum Scope: Equatable { case run(String), thread(String) }

    let scope: Scope
    let hub: StreamHub
    /// Frame for one event; nil skips it. Second result: the event ends the stream.
    let format: @Sendable (EventsSQL.Event) -> (frame: String?, ends: Bool)
    static let maxPendingBytes = 1 << 20
    /// What keeps an idle connection alive: an SSE comment, or whitespace before a JSON body.
    var heartbeatText = ": heartbeat\n\n"
    static let catchUpBatch = 500

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var queue: [UInt8] = []
    /// Cursor of the last event put in `queue` / handed to the server.
    private var queued: Int64
    private var sent: Int64
    private var catchingUp = true
    private var missedWhileCatchingUp = false
    private var ended = false
    private var wake: (@Sendable () -> Void)?
    private(set) var closed = false
    /// Called when the client leaves before the stream's last event (LangGraph on_disconnect=cancel).
    /// Set before the stream starts.
    var onDisconnect: (@Sendable () -> Void)? {
        didSet { watchesDisconnect = onDisconnect != nil }
    }
    private(set) var watchesDisconnect = false

    init(scope: Scope, after cursor: Int64, hub: StreamHub, preamble: String = "",
         format: @escaping @Sendable (EventsSQL.Event) -> (frame: String?, ends: Bool)) {
        self.scope = scope
        self.queued = cursor
        self.sent = cursor
        self.hub = hub
        self.format = format
        self.queue = Array(preamble.utf8)
        pthread_mutex_init(lock, nil)
    }
    deinit { pthread_mutex_destroy(lock); lock.deallocate() }

    var cursor: Int64 { pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }; return queued }

    func start(wake: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(lock)
        self.wake = wake
        pthread_mutex_unlock(lock)
        hub.add(self)
        wake()
    }

    func finish() {
        pthread_mutex_lock(lock)
        closed = true
        wake = nil
        let left = ended ? nil : onDisconnect
        onDisconnect = nil
        pthread_mutex_unlock(lock)
        hub.remove(self)
        left?()
    }

    /// Catch-up done by the caller: `events` were read from the log after the subscriber was
    /// added to the hub (`hub.add`), so nothing committed in between is missed.
    func prime(_ events: [EventsSQL.Event]) {
        pthread_mutex_lock(lock)
        for e in events where key(e) > queued && !ended {
            append(e)
            if ended { break }
        }
        if events.count < Self.catchUpBatch && !missedWhileCatchingUp { catchingUp = false }
        pthread_mutex_unlock(lock)
    }

    /// Live events from the hub (any order of arrival; the cursor filters).
    func deliver(_ events: [EventsSQL.Event]) {
        pthread_mutex_lock(lock)
        if closed || ended { pthread_mutex_unlock(lock); return }
        if catchingUp { missedWhileCatchingUp = true; let w = wake; pthread_mutex_unlock(lock); w?(); return }
        var added = false
        for e in events where key(e) > queued {
            append(e)
            added = true
            if ended { break }
        }
        if queue.count > Self.maxPendingBytes {
            // Too far behind: forget the buffer, read from the log when the client is ready.
            queue = []
            queued = sent
            catchingUp = true
            ended = false
        }
        let w = wake
        pthread_mutex_unlock(lock)
        if added { w?() }
    }

    /// The run (or thread) was deleted before its stream's end: no terminal event will come, so
    /// the formatter ends the stream on a synthetic `run.deleted` / `thread.deleted` event.
    func gone() {
        pthread_mutex_lock(lock)
        if closed || ended { pthread_mutex_unlock(lock); return }
        goneLocked()
        let w = wake
        pthread_mutex_unlock(lock)
        w?()
    }

    private func goneLocked() {
        let type: String, runID: String, threadID: String, message: String
        switch scope {
        case .run(let id):
            (type, runID, threadID, message) = ("run.deleted", id, "", "the run was deleted (rolled back, or its thread was deleted) before it ended")
        case .thread(let id): (type, runID, threadID, message) = ("thread.deleted", "", id, "the thread was deleted")
        }
        let (frame, _) = format(EventsSQL.Event(eventID: queued, runID: runID, threadID: threadID, seq: queued, type: type,
                                                ts: Clock.rfc3339(Clock.wallMillis()), data: ["message": .string(message)]))
        if let frame { queue.append(contentsOf: frame.utf8) }
        ended = true
        catchingUp = false
    }

    func heartbeat() {
        pthread_mutex_lock(lock)
        if !closed && queue.count < Self.maxPendingBytes { queue.append(contentsOf: heartbeatText.utf8) }
        let w = wake
        pthread_mutex_unlock(lock)
        w?()
    }

    /// Called by the server on its thread when the client can take data.
    func read(max: Int) -> [UInt8]? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        // Catch up from the log; a failed read (database trouble) is retried at the next wake
        // (a live event or the heartbeat).
        var rounds = 0
        while queue.isEmpty && catchingUp && !ended && rounds < 4 {
            if !catchUpLocked() { break }
            rounds += 1
        }
        if queue.isEmpty { return ended ? nil : [] }
        let out = queue
        queue = []
        sent = queued
        return out
    }

    /// One batch from the log (lock held on entry and exit, released during the query).
    /// Stays in catch-up mode while there may be more, or a live event arrived meanwhile.
    private func catchUpLocked() -> Bool {
        missedWhileCatchingUp = false
        let after = queued
        pthread_mutex_unlock(lock)
        let fetched = hub.fetch(scope, after: after, limit: Self.catchUpBatch)
        pthread_mutex_lock(lock)
        let events: [EventsSQL.Event]
        switch fetched {
        case .failed: return false
        case .gone:
            if !closed && !ended { goneLocked() }
            return true
        case .events(let e): events = e
        }
        for e in events where key(e) > queued {
            append(e)
            if ended { break }
        }
        if events.count < Self.catchUpBatch && !missedWhileCatchingUp { catchingUp = false }
        return true
    }

    /// The hub lost notifications: read the log again before trusting live events.
    func resync() {
        pthread_mutex_lock(lock)
        if !closed && !ended { catchingUp = true }
        let w = wake
        pthread_mutex_unlock(lock)
        w?()
    }

    private func key(_ e: EventsSQL.Event) -> Int64 {
        if case .thread = scope { return e.eventID }
        return e.seq
    }

    private func append(_ e: EventsSQL.Event) {
        let (frame, ends) = format(e)
        if let frame { queue.append(contentsOf: frame.utf8) }
        queued = key(e)
        if ends { ended = true }
    }
}
