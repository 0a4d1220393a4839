import CShims
import Glibc
import Synchronization

/// Starts a detached OS thread. Roles are built from a few long-lived loops, each on its own
/// thread with blocking libpq calls; Swift concurrency is not needed for that shape.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; let name: String; init(_ b: @escaping @Sendable () -> Void, _ n: String) { body = b; name = n } }
    var tid = pthread_t()
    let ctx = Unmanaged.passRetained(Box(body, name)).toOpaque()
    let rc = pthread_create(&tid, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        dg_set_thread_name(box.name)
        box.body()
        return nil
    }, ctx)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(tid)
}

/// A one-way latch that threads can wait on with a timeout (stop signals, readiness).
public final class Event: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let c = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var isSet = false

    public init() {
        pthread_mutex_init(m, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(c, &attr)
        pthread_condattr_destroy(&attr)
    }
    deinit { pthread_cond_destroy(c); pthread_mutex_destroy(m); c.deallocate(); m.deallocate() }

    public func set() {
        pthread_mutex_lock(m); isSet = true; pthread_cond_broadcast(c); pthread_mutex_unlock(m)
    }
    public var isSignalled: Bool { pthread_mutex_lock(m); defer { pthread_mutex_unlock(m) }; return isSet }

    /// Waits until set or the timeout passes; returns whether it is set.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let whole = Int(seconds)
        deadline.tv_sec += whole
        deadline.tv_nsec += Int((seconds - Double(whole)) * 1e9)
        if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
        pthread_mutex_lock(m); defer { pthread_mutex_unlock(m) }
        while !isSet {
            if pthread_cond_timedwait(c, m, &deadline) == ETIMEDOUT { break }
        }
        return isSet
    }
}

/// Capped exponential backoff with jitter, for reconnects and restarts.
public struct Backoff: Sendable {
    public let initial: Double
    public let cap: Double
    public private(set) var attempt = 0
    public init(initial: Double, cap: Double) { self.initial = initial; self.cap = cap }
    public mutating func next() -> Double {
        let base = min(cap, initial * Double(1 << min(attempt, 20)))
        attempt += 1
        return base * (0.8 + 0.4 * Double.random(in: 0...1))
    }
    public mutating func reset() { attempt = 0 }
}
