import DuraGraphCore
import Glibc

/// The supervisor's view of its children, shared with the api's /health through a file beside the
/// metrics files (the api never talks to the supervisor directly).
enum SupervisorState {
    static func path(_ dir: String) -> String { dir + "/supervisor-state.json.state" }

    static func write(dir: String, _ state: JSON) {
        let tmp = path(dir) + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let text = state.description
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
        rename(tmp, path(dir))
    }

    static func remove(dir: String) { unlink(path(dir)) }

    /// The state when the supervisor that wrote it is alive.
    static func read(dir: String) -> JSON? {
        guard let text = readFile(path(dir)), let s = try? JSON.parse(text), let pid = s["supervisor_pid"]?.intValue,
              kill(pid_t(pid), 0) == 0 else { return nil }
        return s
    }
}
