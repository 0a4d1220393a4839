import CSystemd
import DuraGraphCore
import Glibc

/// sd_notify for a role. Under `duragraph serve` the socket is the supervisor's, and each message
/// names the role and pid so the supervisor knows who is speaking.
public enum Notify {
    public static func send(_ state: String) {
        var msg = state
        if let role = getenv("DURAGRAPH_SUPERVISED_ROLE") {
            msg += "\nDURAGRAPH_ROLE=\(String(cString: role))\nDURAGRAPH_PID=\(getpid())"
        }
        _ = sd_notify(0, msg)
    }

    /// The watchdog interval systemd asked for, if any (WATCHDOG_USEC for this pid).
    public static func watchdogInterval() -> Double? {
        var usec: UInt64 = 0
        return sd_watchdog_enabled(0, &usec) > 0 ? Double(usec) / 1e6 : nil
    }
}
