import CSystemd
import DuraGraphCore
import Glibc

/// Systemd socket activation of the api port (sd_listen_fds).
public enum ListenSocket {
    /// Set by the supervisor for its api child: the fd number of the socket systemd passed to it.
    static let inheritedEnv = "DURAGRAPH_LISTEN_FD"

    /// The listening socket the api should adopt, or -1 to bind API_HOST:API_PORT itself:
    /// DURAGRAPH_LISTEN_FD under the supervisor, else one socket from systemd (LISTEN_FDS).
    public static func apiListenFD() throws(ConfigError) -> Int32 {
        if let v = getenv(inheritedEnv).map({ String(cString: $0) }), !v.isEmpty {
            guard let fd = Int32(v), fd >= 0, isTCPListener(fd) else {
                throw ConfigError("\(inheritedEnv)=\(v) is not a listening TCP socket")
            }
            return fd
        }
        let n = sd_listen_fds(1)
        if n < 0 { throw ConfigError("cannot read the sockets passed by systemd: \(String(cString: strerror(-n)))") }
        if n == 0 { return -1 }
        guard n == 1 else { throw ConfigError("socket activation passed \(n) sockets; the api takes exactly one") }
        let fd = SD_LISTEN_FDS_START
        guard isTCPListener(fd) else { throw ConfigError("the socket passed by systemd is not a listening TCP socket") }
        return fd
    }

    /// For the supervisor: takes the socket systemd passed (if any) and keeps it open across
    /// exec (no FD_CLOEXEC) so the api child can adopt it; returns its fd or -1.
    static func takeForChildren() throws(ConfigError) -> Int32 {
        let n = sd_listen_fds(1)
        if n <= 0 { return -1 }
        guard n == 1, isTCPListener(SD_LISTEN_FDS_START) else {
            throw ConfigError("socket activation must pass exactly one listening TCP socket (got \(n))")
        }
        let fd = SD_LISTEN_FDS_START
        let flags = fcntl(fd, F_GETFD)
        _ = fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC)
        return fd
    }

    static func isTCPListener(_ fd: Int32) -> Bool {
        sd_is_socket(fd, AF_UNSPEC, Int32(SOCK_STREAM.rawValue), 1) > 0
            && (sd_is_socket_inet(fd, AF_INET, Int32(SOCK_STREAM.rawValue), 1, 0) > 0
                || sd_is_socket_inet(fd, AF_INET6, Int32(SOCK_STREAM.rawValue), 1, 0) > 0)
    }
}
