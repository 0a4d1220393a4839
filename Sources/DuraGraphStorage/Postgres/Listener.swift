import DuraGraphCore
import Synchronization

/// LISTEN on a dedicated connection, on its own thread. After a reconnect it LISTENs again and
/// calls `onGap`, because notifications sent while it was away are lost: the caller then catches
/// up from the tables. `onGap` also runs after the first connect, for the same reason.
public final class PGListener: Sendable {
    public let url: String
    public let channels: [String]
    private let onNotify: @Sendable (_ channel: String, _ payload: String) -> Void
    private let onGap: @Sendable () -> Void
    private let stopped = Event()
    private let connected = Event()
    private let reconnects = Atomic<Int>(0)

    public init(url: String, channels: [String],
                onNotify: @escaping @Sendable (String, String) -> Void,
                onGap: @escaping @Sendable () -> Void = {}) {
        self.url = url
        self.channels = channels
        self.onNotify = onNotify
        self.onGap = onGap
    }

    /// Times the connection was re-established after a loss.
    public var reconnectCount: Int { reconnects.load(ordering: .relaxed) }

    public func start() { startThread(name: "pg-listen") { self.run() } }
    public func stop() { stopped.set() }

    /// Waits until the first LISTEN is in place.
    public func waitConnected(seconds: Double) -> Bool { connected.wait(seconds: seconds) }

    private func run() {
        var backoff = Backoff(initial: 0.1, cap: 5)
        var first = true
        while !stopped.isSignalled {
            do {
                let conn = try PGConnection(url: url, applicationName: "duragraph-\(Log.role)-listen")
                for ch in channels { try conn.listen(ch) }
                if !first {
                    reconnects.add(1, ordering: .relaxed)
                    Log.info("listener reconnected; catching up from tables", ["channels": .string(channels.joined(separator: ","))])
                }
                first = false
                backoff.reset()
                connected.set()
                onGap()
                while !stopped.isSignalled {
                    for n in try conn.waitForNotifications(timeout: 0.5) { onNotify(n.channel, n.payload) }
                }
            } catch {
                if stopped.isSignalled { break }
                let wait = backoff.next()
                Log.warn("listener connection lost", ["error": .string(error.description), "retry_in_s": .double((wait * 100).rounded() / 100)])
                stopped.wait(seconds: wait)
            }
        }
    }
}
