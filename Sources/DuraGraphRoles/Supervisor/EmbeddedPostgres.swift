import DuraGraphCore
import DuraGraphStorage
import Glibc

/// A private PostgreSQL cluster for `duragraph serve` when DATABASE_URL is unset: created on first
/// start under DURAGRAPH_DATA_DIR/postgres, reachable only through a Unix socket in
/// DURAGRAPH_DATA_DIR/run, supervised as a child, stopped last. PostgreSQL refuses to run as root,
/// so as root it runs as the system's `postgres` user.
public final class EmbeddedPostgres {
    public static let superuser = "duragraph"
    public static let database = "duragraph"
    static let port = "5432"   // only names the socket file; nothing listens on TCP

    let binDir: String
    let baseDir: String
    var clusterDir: String { baseDir + "/postgres" }
    var socketDir: String { baseDir + "/run" }
    var logPath: String { baseDir + "/postgres.log" }
    let user: (uid: UInt32, gid: UInt32)?
    public internal(set) var pid: pid_t = 0

    public var url: String { "host=\(socketDir) port=\(Self.port) user=\(Self.superuser) dbname=\(Self.database)" }
    var maintenanceURL: String { "host=\(socketDir) port=\(Self.port) user=\(Self.superuser) dbname=postgres" }

    public init(dataDir: String, binDir: String?) throws(ConfigError) {
        guard let bin = binDir ?? Self.findBinDir() else {
            throw ConfigError("no PostgreSQL server binaries found (install the postgresql package or set POSTGRES_BIN_DIR, or set DATABASE_URL)")
        }
        self.binDir = bin
        try makeDirs(dataDir)
        var base = absolutePath(dataDir)
        if getuid() == 0 {
            guard let pw = getpwnam("postgres") else {
                throw ConfigError("running as root needs the system user 'postgres' for the embedded PostgreSQL (or set DATABASE_URL)")
            }
            user = (pw.pointee.pw_uid, pw.pointee.pw_gid)
            // PostgreSQL must be able to reach its directory; a data dir under a private home
            // (/root is 0700) is not reachable by the postgres user, so the cluster goes elsewhere.
            if !Self.traversable(base) {
                let alt = "/var/lib/duragraph-embedded/" + String(fnv1a(base), radix: 16)
                Log.warn("data directory not reachable by the postgres user; using another place for the embedded cluster",
                         ["data_dir": .string(base), "cluster_dir": .string(alt)])
                try makeDirs(alt)
                base = alt
            }
        } else {
            user = nil
        }
        baseDir = base
        // Unix socket paths are limited to 107 bytes.
        if (socketDir + "/.s.PGSQL.\(Self.port).lock").utf8.count > 100 {
            throw ConfigError("DURAGRAPH_DATA_DIR path is too long for a PostgreSQL socket: \(socketDir)")
        }
    }

    static func findBinDir() -> String? {
        guard let d = opendir("/usr/lib/postgresql") else { return nil }
        defer { closedir(d) }
        var versions: [Int] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if let v = Int(name), access("/usr/lib/postgresql/\(v)/bin/postgres", X_OK) == 0 { versions.append(v) }
        }
        return versions.max().map { "/usr/lib/postgresql/\($0)/bin" }
    }

    /// Every ancestor must be searchable by "others" for a different user to reach the directory.
    static func traversable(_ path: String) -> Bool {
        var p = ""
        for part in path.split(separator: "/") {
            p += "/" + part
            var st = stat()
            guard stat(p, &st) == 0 else { return false }
            if st.st_mode & S_IXOTH == 0 { return false }
        }
        return true
    }

    /// initdb on first use, then start the server and wait until it accepts connections.
    public func start() throws {
        for d in [clusterDir, socketDir] {
            try makeDirs(d)
            if let u = user { chown(d, u.uid, u.gid) }
        }
        chmod(clusterDir, 0o700)
        let env = ["PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"]
        if access(clusterDir + "/PG_VERSION", F_OK) != 0 {
            Log.info("creating embedded PostgreSQL cluster", ["dir": .string(clusterDir)])
            let logFD = openLog()
            defer { close(logFD) }
            let p = try Spawn.start(binDir + "/initdb",
                                    ["-D", clusterDir, "-U", Self.superuser, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"],
                                    env: env, user: user, stderrFD: logFD)
            guard let exit = Spawn.wait(p, seconds: 300), exit.isClean else {
                throw ConfigError("initdb failed; see \(logPath)")
            }
        }
        try launch(env: env)
        try waitReady(seconds: 60)
        let conn = try PGConnection(url: maintenanceURL, applicationName: "duragraph-supervisor")
        if try conn.query("SELECT 1 FROM pg_database WHERE datname = $1", [Self.database]).rows.isEmpty {
            // CREATE DATABASE takes no parameters; the name is a fixed identifier.
            try conn.execute("CREATE DATABASE \(Self.database)")
        }
    }

    func launch(env: [String: String]) throws(ConfigError) {
        let logFD = openLog()
        defer { close(logFD) }
        pid = try Spawn.start(binDir + "/postgres",
                              ["-D", clusterDir, "-k", socketDir, "-p", Self.port, "-c", "listen_addresses=",
                               "-c", "unix_socket_permissions=0700", "-c", "max_connections=200"],
                              env: env, user: user, deathSignal: SIGQUIT, stderrFD: logFD)
        Log.info("embedded PostgreSQL started", ["pid": .int(Int64(pid)), "socket_dir": .string(socketDir)])
    }

    /// Starts it again after a crash (the supervisor's restart path).
    public func restart() throws {
        try launch(env: ["PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"])
    }

    func waitReady(seconds: Double) throws {
        let deadline = Clock.monotonic() + seconds
        while true {
            if (try? PGConnection(url: maintenanceURL, applicationName: "duragraph-supervisor", connectTimeout: 2)) != nil { return }
            if let exit = Spawn.wait(pid, seconds: 0) {
                throw ConfigError("embedded PostgreSQL exited during start-up (\(exit)); see \(logPath)")
            }
            if Clock.monotonic() > deadline { throw ConfigError("embedded PostgreSQL did not start within \(Int(seconds))s; see \(logPath)") }
            Clock.sleep(seconds: 0.1)
        }
    }

    /// Fast shutdown (SIGINT), then immediate (SIGQUIT) if it takes too long.
    public func stop(timeout: Double) -> Bool {
        guard pid > 0 else { return true }
        kill(pid, SIGINT)
        if Spawn.wait(pid, seconds: timeout) != nil { pid = 0; return true }
        kill(pid, SIGQUIT)
        if Spawn.wait(pid, seconds: 5) != nil { pid = 0; return false }
        kill(pid, SIGKILL)
        _ = Spawn.wait(pid, seconds: 5)
        pid = 0
        return false
    }

    private func openLog() -> Int32 {
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        if fd >= 0, let u = user { fchown(fd, u.uid, u.gid) }
        return fd
    }
}

func makeDirs(_ path: String) throws(ConfigError) {
    var p = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        p += "/" + part
        if mkdir(p, 0o755) != 0 && errno != EEXIST {
            throw ConfigError("cannot create directory \(p): \(String(cString: strerror(errno)))")
        }
    }
}

func absolutePath(_ path: String) -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    guard realpath(path, &buf) != nil else { return path }
    return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Stable across runs (Swift's hashValue is seeded per process).
func fnv1a(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf29ce484222325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
    return h
}
