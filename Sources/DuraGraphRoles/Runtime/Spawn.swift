import CShims
import DuraGraphCore
import Glibc

/// Child processes: fork+exec through the C shim (so a setuid for PostgreSQL happens in the child
/// and the child dies with its parent via PR_SET_PDEATHSIG).
public enum Spawn {
    public static func start(_ path: String, _ args: [String], env: [String: String],
                             user: (uid: UInt32, gid: UInt32)? = nil, deathSignal: Int32 = SIGTERM,
                             stderrFD: Int32 = -1) throws(ConfigError) -> pid_t {
        let argv = ([path] + args).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        let pid = dg_spawn(path, argv, envp, user.map { Int32($0.uid) } ?? -1, user.map { Int32($0.gid) } ?? -1,
                           deathSignal, stderrFD)
        if pid < 0 { throw ConfigError("cannot start \(path): \(String(cString: strerror(errno)))") }
        return pid
    }

    public enum Exit: Sendable, CustomStringConvertible {
        case code(Int32), signal(Int32)
        public var description: String {
            switch self {
            case .code(let c): return "exit status \(c)"
            case .signal(let s): return "killed by signal \(s) (\(String(cString: strsignal(s))))"
            }
        }
        public var isClean: Bool { if case .code(0) = self { return true }; return false }
    }

    /// Reaps one exited child without blocking.
    public static func reap() -> (pid_t, Exit)? {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, WNOHANG)
        guard pid > 0 else { return nil }
        let sig = status & 0x7f
        return (pid, sig == 0 ? .code((status >> 8) & 0xff) : .signal(sig))
    }

    /// Waits for one specific child up to `seconds`; nil if it is still running.
    public static func wait(_ pid: pid_t, seconds: Double) -> Exit? {
        let deadline = Clock.monotonic() + seconds
        repeat {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                let sig = status & 0x7f
                return sig == 0 ? .code((status >> 8) & 0xff) : .signal(sig)
            }
            if r < 0 { return .code(-1) }
            Clock.sleep(seconds: 0.05)
        } while Clock.monotonic() < deadline
        return nil
    }

    public static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, 4095)
        return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }
}

/// Signals arrive on a dedicated thread (they are blocked everywhere else) and set `stop`.
public enum Signals {
    public static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    /// Call first in main, before any thread exists: threads inherit the blocked mask.
    public static func block() {
        var sigs = handled + [SIGCHLD]
        dg_block_signals(&sigs, Int32(sigs.count))
        signal(SIGPIPE, SIG_IGN)
    }

    /// Non-blocking check for a pending signal (the supervisor polls it in its loop).
    public static func poll(timeoutMs: Int32 = 0) -> Int32? {
        var sigs = handled
        let s = dg_wait_signal(&sigs, Int32(sigs.count), timeoutMs)
        return s > 0 ? s : nil
    }

    /// Starts a thread that sets `stop` on SIGTERM/SIGINT.
    public static func onTerminate(_ stop: Event) {
        startThread(name: "signals") {
            while true {
                guard let s = poll(timeoutMs: 1000) else { continue }
                if s == SIGHUP { continue }
                Log.info("signal received; draining", ["signal": .string(String(cString: strsignal(s)))])
                stop.set()
            }
        }
    }
}
