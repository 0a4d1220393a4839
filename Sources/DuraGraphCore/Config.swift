import Glibc

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Settings from an optional env file overlaid by the process environment (the environment wins,
/// so a systemd drop-in or a shell export can override one value of the file).
/// Every key is documented in etc/duragraph.env.example and docs/configuration.md.
public struct Config: Sendable {
    public static let defaultFile = "/etc/duragraph/duragraph.env"

    public let values: [String: String]
    /// The env file actually read, passed on to child processes.
    public let file: String?

    public init(values: [String: String], file: String? = nil) {
        self.values = values
        self.file = file
    }

    /// Reads `path` (required to exist when given), else the default file when present.
    public static func load(path: String?) throws(ConfigError) -> Config {
        var merged: [String: String] = [:]
        var used: String?
        if let path {
            guard let text = readFile(path) else { throw ConfigError("cannot read config file \(path)") }
            merged = try parseEnvFile(text, name: path)
            used = path
        } else if access(defaultFile, R_OK) == 0, let text = readFile(defaultFile) {
            merged = try parseEnvFile(text, name: defaultFile)
            used = defaultFile
        }
        for (k, v) in environment() { merged[k] = v }
        return Config(values: merged, file: used)
    }

    /// KEY=VALUE lines; `#` comments; optional `export `; values may be single or double quoted.
    public static func parseEnvFile(_ text: String, name: String) throws(ConfigError) -> [String: String] {
        var out: [String: String] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingSpaces() }
            guard let eq = line.firstIndex(of: "=") else {
                throw ConfigError("\(name):\(n + 1): expected KEY=VALUE")
            }
            let key = String(line[..<eq]).trimmingSpaces()
            var value = String(line[line.index(after: eq)...]).trimmingSpaces()
            if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f {
                value = String(value.dropFirst().dropLast())
            }
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ConfigError("\(name):\(n + 1): invalid key")
            }
            out[key] = value
        }
        return out
    }

    public static func environment() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let e = p.pointee {
            let s = String(cString: e)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }

    // MARK: typed access

    public func string(_ key: String, _ def: String) -> String {
        if let v = values[key], !v.isEmpty { return v }
        return def
    }
    public func optional(_ key: String) -> String? {
        if let v = values[key], !v.isEmpty { return v }
        return nil
    }
    public func int(_ key: String, _ def: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let s = optional(key) else { return def }
        guard let v = Int(s), range.contains(v) else {
            throw ConfigError("\(key) must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(s)\"")
        }
        return v
    }
    public func double(_ key: String, _ def: Double, range: ClosedRange<Double>) throws(ConfigError) -> Double {
        guard let s = optional(key) else { return def }
        guard let v = Double(s), range.contains(v) else {
            throw ConfigError("\(key) must be a number in \(range.lowerBound)...\(range.upperBound), got \"\(s)\"")
        }
        return v
    }
    public func bool(_ key: String, _ def: Bool) throws(ConfigError) -> Bool {
        guard let s = optional(key) else { return def }
        switch s.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigError("\(key) must be true or false, got \"\(s)\"")
        }
    }
}

/// The settings every role reads, validated once at start-up.
public struct Settings: Sendable {
    public var databaseURL: String?
    public var dataDir: String
    public var apiHost: String
    public var apiPort: Int
    public var metricsHost: String
    public var metricsPort: Int
    public var logLevel: Log.Level
    public var logJSON: Bool
    public var dbPoolSize: Int
    public var dbStatementTimeout: Double
    public var httpThreads: Int
    public var httpConnectionLimit: Int
    public var httpTimeout: Int
    public var httpMaxBody: Int
    public var drainTimeout: Double
    public var restartBackoffMax: Double
    public var postgresBinDir: String?
    public var schedulerConcurrency: Int
    public var leaseSeconds: Double
    public var pollInterval: Double
    public var maxAttempts: Int
    public var runTimeout: Double
    public var openAIBaseURL: String
    public var openAIKey: String?
    public var anthropicBaseURL: String
    public var anthropicKey: String?
    public var llmTimeout: Double
    public var llmMaxRetries: Int
    public var webhookConcurrency: Int
    public var webhookTimeout: Double
    public var webhookRetrySchedule: [Double]
    public var webhookDisableAfter: Double
    public var webhookAllowedCIDRs: String
    public var webhookSecret: String?
    public var webhookRotationGrace: Double
    public var webhookPollInterval: Double
    public var metricsDir: String
    /// AUTH_*, JWT_*, RATE_LIMIT_* (Auth/AuthSettings.swift).
    public var auth: AuthSettings
    public var dashboardDir: String?
    public var dashboardPort: Int
    /// Origins whose browser scripts may call the api (CORS); LangGraph Studio's by default.
    public var corsOrigins: [String]

    public init(_ c: Config) throws(ConfigError) {
        databaseURL = c.optional("DATABASE_URL")
        dataDir = c.string("DURAGRAPH_DATA_DIR", "./.duragraph")
        apiHost = c.string("API_HOST", "127.0.0.1")
        apiPort = try c.int("API_PORT", 8081, range: 0...65535)
        metricsHost = c.string("METRICS_HOST", apiHost)
        metricsPort = try c.int("METRICS_PORT", 9464, range: 0...65535)
        let lv = c.string("LOG_LEVEL", "info")
        guard let level = Log.Level(name: lv) else { throw ConfigError("LOG_LEVEL must be debug, info, warn or error, got \"\(lv)\"") }
        logLevel = level
        let lf = c.string("LOG_FORMAT", "text").lowercased()
        guard lf == "text" || lf == "json" else { throw ConfigError("LOG_FORMAT must be text or json, got \"\(lf)\"") }
        logJSON = lf == "json"
        dbPoolSize = try c.int("DB_POOL_SIZE", 8, range: 1...256)
        dbStatementTimeout = try c.double("DB_STATEMENT_TIMEOUT", 10, range: 0.1...3600)
        httpThreads = try c.int("HTTP_THREADS", 8, range: 1...256)
        httpConnectionLimit = try c.int("HTTP_CONNECTION_LIMIT", 8192, range: 16...1_000_000)
        httpTimeout = try c.int("HTTP_REQUEST_TIMEOUT", 60, range: 1...86400)
        httpMaxBody = try c.int("HTTP_MAX_BODY_BYTES", 10 * 1024 * 1024, range: 1024...1 << 30)
        drainTimeout = try c.double("DRAIN_TIMEOUT", 20, range: 0.1...3600)
        restartBackoffMax = try c.double("RESTART_BACKOFF_MAX", 30, range: 0.1...3600)
        postgresBinDir = c.optional("POSTGRES_BIN_DIR")
        schedulerConcurrency = try c.int("SCHEDULER_CONCURRENCY", 8, range: 1...1024)
        leaseSeconds = try c.double("SCHEDULER_LEASE_SECONDS", 15, range: 1...3600)
        pollInterval = try c.double("SCHEDULER_POLL_INTERVAL", 2, range: 0.05...600)
        maxAttempts = try c.int("RUN_MAX_ATTEMPTS", 3, range: 1...100)
        runTimeout = try c.double("RUN_TIMEOUT", 600, range: 0.1...86400 * 7)
        openAIBaseURL = c.string("OPENAI_BASE_URL", "https://api.openai.com/v1")
        openAIKey = c.optional("OPENAI_API_KEY")
        anthropicBaseURL = c.string("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
        anthropicKey = c.optional("ANTHROPIC_API_KEY")
        llmTimeout = try c.double("LLM_TIMEOUT", 120, range: 1...3600)
        llmMaxRetries = try c.int("LLM_MAX_RETRIES", 2, range: 0...10)
        webhookConcurrency = try c.int("WEBHOOK_CONCURRENCY", 16, range: 1...512)
        webhookTimeout = try c.double("WEBHOOK_TIMEOUT", 15, range: 0.1...300)
        let schedule = c.string("WEBHOOK_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,36000")
        webhookRetrySchedule = schedule.split(separator: ",").compactMap { Double($0.trimmingSpaces()) }
        guard webhookRetrySchedule.count == schedule.split(separator: ",").count, webhookRetrySchedule.allSatisfy({ $0 >= 0 }) else {
            throw ConfigError("WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds, got \"\(schedule)\"")
        }
        webhookDisableAfter = try c.double("WEBHOOK_DISABLE_AFTER", 5 * 86400, range: 1...365 * 86400)
        webhookAllowedCIDRs = c.string("WEBHOOK_ALLOWED_CIDRS", "")
        webhookSecret = c.optional("WEBHOOK_SECRET")
        webhookRotationGrace = try c.double("WEBHOOK_SECRET_ROTATION_GRACE", 86400, range: 0...30 * 86400)
        webhookPollInterval = try c.double("WEBHOOK_POLL_INTERVAL", 1, range: 0.05...600)
        metricsDir = c.string("METRICS_DIR", dataDir + "/run/metrics")
        auth = try AuthSettings(c)
        dashboardDir = c.optional("DASHBOARD_DIR")
        dashboardPort = try c.int("DASHBOARD_PORT", 0, range: 0...65535)
        corsOrigins = c.string("CORS_ALLOW_ORIGINS", "https://smith.langchain.com").split(separator: ",")
            .map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        for o in corsOrigins where o != "*" && !(o.hasPrefix("https://") || o.hasPrefix("http://")) || o.hasSuffix("/") {
            throw ConfigError("CORS_ALLOW_ORIGINS must list origins like https://app.example.com (no path), or *; got \"\(o)\"")
        }
        for (name, host) in [("API_HOST", apiHost), ("METRICS_HOST", metricsHost)] {
            var a = in_addr()
            if inet_pton(AF_INET, host, &a) != 1 { throw ConfigError("\(name) must be an IPv4 address, got \"\(host)\"") }
        }
    }
}

public func readFile(_ path: String) -> String? {
    readFileBytes(path).map { String(decoding: $0, as: UTF8.self) }
}

public func readFileBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

extension StringProtocol {
    /// Trims spaces, tabs and line ends ("\r\n" is one Character in Swift, so it is listed).
    public func trimmingSpaces() -> String {
        let ws: Set<Character> = [" ", "\t", "\r", "\n", "\r\n"]
        var s = Substring(self)
        while let f = s.first, ws.contains(f) { s = s.dropFirst() }
        while let l = s.last, ws.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
