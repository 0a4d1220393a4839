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

/// A pthread mutex + condition variable on the monotonic clock, heap-allocated (a pthread_mutex_t
/// must not move, so it is never stored inline in a Swift object). The blocking primitives below
/// and the connection pool are built on it.
public final class Condition: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let c = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(m, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(c, &attr)
        pthread_condattr_destroy(&attr)
    }
    deinit { pthread_cond_destroy(c); pthread_mutex_destroy(m); c.deallocate(); m.deallocate() }

    public func lock() { pthread_mutex_lock(m) }
    public func unlock() { pthread_mutex_unlock(m) }
    public func signal() { pthread_cond_signal(c) }
    public func broadcast() { pthread_cond_broadcast(c) }
    /// Waits (lock held) until signalled.
    public func wait() { pthread_cond_wait(c, m) }
    /// Waits (lock held) until signalled or the deadline; false when the deadline passed.
    public func wait(until deadline: timespec) -> Bool {
        var d = deadline
        return pthread_cond_timedwait(c, m, &d) != ETIMEDOUT
    }

    /// A deadline `seconds` from now on the monotonic clock.
    public static func deadline(after seconds: Double) -> timespec {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        let ns = t.tv_nsec + Int((seconds - Double(Int(seconds))) * 1e9)
        t.tv_sec += Int(seconds) + ns / 1_000_000_000
        t.tv_nsec = ns % 1_000_000_000
        return t
    }
}

/// A one-way latch that threads can wait on with a timeout (stop signals, readiness).
public final class Event: Sendable {
    private let cond = Condition()
    private nonisolated(unsafe) var isSet = false   // guarded by cond

    public init() {}

    public func set() { cond.lock(); isSet = true; cond.broadcast(); cond.unlock() }
    public var isSignalled: Bool { cond.lock(); defer { cond.unlock() }; return isSet }

    /// Waits until set or the timeout passes; returns whether it is set.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        let deadline = Condition.deadline(after: seconds)
        cond.lock(); defer { cond.unlock() }
        while !isSet { if !cond.wait(until: deadline) { break } }
        return isSet
    }
}

/// A wake-up flag for a polling loop: set by notifications, cleared by the waiter.
public final class WakeSignal: Sendable {
    private let cond = Condition()
    private nonisolated(unsafe) var pending = false   // guarded by cond
    public init() {}
    public func signal() { cond.lock(); pending = true; cond.signal(); cond.unlock() }
    /// Waits for a signal or `seconds`; whether it was signalled.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        let deadline = Condition.deadline(after: seconds)
        cond.lock()
        while !pending { if !cond.wait(until: deadline) { break } }
        let signalled = pending
        pending = false
        cond.unlock()
        return signalled
    }
}

/// A blocking multi-producer, multi-consumer queue (worker pools).
public final class WorkQueue<T: Sendable>: Sendable {
    private let cond = Condition()
    private nonisolated(unsafe) var items: [T] = []    // guarded by cond
    private nonisolated(unsafe) var head = 0
    private nonisolated(unsafe) var closed = false
    public enum Pop { case item(T), empty }
    public init() {}
    public func push(_ v: T) { cond.lock(); items.append(v); cond.signal(); cond.unlock() }
    public func close() { cond.lock(); closed = true; cond.broadcast(); cond.unlock() }
    /// Waits for an item (timeout nil: until closed); .empty when closed or timed out.
    public func pop(timeout: Double? = nil) -> Pop {
        cond.lock(); defer { cond.unlock() }
        while head >= items.count {
            if closed || timeout != nil { return .empty }
            cond.wait()
        }
        let v = items[head]
        head += 1
        if head > 1024 { items.removeFirst(head); head = 0 }
        return .item(v)
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
