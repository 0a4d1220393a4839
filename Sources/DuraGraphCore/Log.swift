import Glibc
import Synchronization

/// One line per event on stderr, with time, level and role; text or JSON (LOG_FORMAT).
public enum Log {
    public enum Level: Int, Sendable, Comparable {
        case debug = 0, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var name: String { ["debug", "info", "warn", "error"][rawValue] }
        public init?(name: String) {
            switch name.lowercased() {
            case "debug", "trace": self = .debug
            case "info": self = .info
            case "warn", "warning": self = .warn
            case "error": self = .error
            default: return nil
            }
        }
    }

    struct Settings { var level = Level.info; var json = false; var role = "duragraph" }
    private static let settings = Mutex(Settings())

    public static func configure(level: Level, json: Bool, role: String) {
        settings.withLock { $0 = Settings(level: level, json: json, role: role) }
    }
    public static var role: String { settings.withLock { $0.role } }

    public static func debug(_ msg: String, _ fields: [String: JSON] = [:]) { emit(.debug, msg, fields) }
    public static func info(_ msg: String, _ fields: [String: JSON] = [:]) { emit(.info, msg, fields) }
    public static func warn(_ msg: String, _ fields: [String: JSON] = [:]) { emit(.warn, msg, fields) }
    public static func error(_ msg: String, _ fields: [String: JSON] = [:]) { emit(.error, msg, fields) }

    public static func emit(_ level: Level, _ msg: String, _ fields: [String: JSON]) {
        let s = settings.withLock { $0 }
        guard level >= s.level else { return }
        let ts = Clock.rfc3339(Clock.wallMillis())
        var line: String
        if s.json {
            var o = fields
            o["ts"] = .string(ts); o["level"] = .string(level.name); o["role"] = .string(s.role)
            o["pid"] = .int(Int64(getpid())); o["msg"] = .string(msg)
            line = JSON.object(o).description
        } else {
            line = "\(ts) \(level.name.uppercased()) \(s.role)[\(getpid())] \(msg)"
            for k in fields.keys.sorted() {
                let v = fields[k]!
                line += " \(k)=" + (v.stringValue.map { $0.contains(" ") ? "\"\($0)\"" : $0 } ?? v.description)
            }
        }
        line += "\n"
        line.withCString { p in
            var off = 0
            let n = strlen(p)
            while off < n {
                let w = Glibc.write(2, p + off, n - off)
                if w <= 0 { break }
                off += w
            }
        }
    }
}
