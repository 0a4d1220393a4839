import Glibc

/// How local processes share metrics: each writes its snapshot to <dir>/<role>-<pid>.json once a
/// second (atomic rename); a page is the merge of every file whose process is alive, each sample
/// labelled with role and pid (so a restarted role starts new series instead of going backwards).
public enum MetricsFile {
    public static func publish(dir: String, role: String) {
        let pid = getpid()
        updateProcessMetrics()
        let doc: JSON = ["role": .string(role), "pid": .int(Int64(pid)), "families": .array(Metrics.registry.snapshot())]
        let path = "\(dir)/\(role)-\(pid).json"
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let text = doc.description
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        rename(tmp, path)
    }

    public static func remove(dir: String, role: String) {
        unlink("\(dir)/\(role)-\(getpid()).json")
    }

    static let started = Double(Clock.wallMillis()) / 1000

    static func updateProcessMetrics() {
        Metrics.buildInfo.set(["version": duragraphVersion], 1)
        Metrics.startTime.set([:], started)
        if let statm = readFile("/proc/self/statm"), let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            Metrics.residentMemory.set([:], pages * Double(sysconf(Int32(_SC_PAGESIZE))))
        }
        var ru = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
        let cpu = Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6 + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
        Metrics.cpuSeconds.set([:], cpu)
        if let d = opendir("/proc/self/fd") {
            var n = 0
            while readdir(d) != nil { n += 1 }
            closedir(d)
            Metrics.openFDs.set([:], Double(max(0, n - 3)))   // minus ".", ".." and the directory itself
        }
    }

    /// The Prometheus text format (0.0.4) of every live process's file: each family once, with
    /// HELP and TYPE, samples labelled role and pid.
    public static func page(dir: String) -> String {
        var families: [String: (help: String, type: String, lines: [String])] = [:]
        var order: [String] = []
        guard let d = opendir(dir) else { return "" }
        var names: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if n.hasSuffix(".json") { names.append(n) }
        }
        closedir(d)
        for n in names.sorted() {
            guard let text = readFile("\(dir)/\(n)"), let doc = try? JSON.parse(text),
                  let role = doc["role"]?.stringValue, let pid = doc["pid"]?.intValue else { continue }
            if kill(pid_t(pid), 0) != 0 && errno == ESRCH {   // the process is gone: its file too
                unlink("\(dir)/\(n)")
                continue
            }
            for f in doc["families"]?.arrayValue ?? [] {
                guard let name = f["name"]?.stringValue else { continue }
                if families[name] == nil {
                    families[name] = (f["help"]?.stringValue ?? "", f["type"]?.stringValue ?? "untyped", [])
                    order.append(name)
                }
                for s in f["samples"]?.arrayValue ?? [] {
                    var labels = s["labels"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
                    labels["role"] = role
                    labels["pid"] = String(pid)
                    let value = s["value"]?.doubleValue ?? 0
                    families[name]!.lines.append("\(name)\(s["suffix"]?.stringValue ?? "")\(render(labels)) \(MetricFamily.format(value))")
                }
            }
        }
        var out = ""
        for name in order.sorted() {
            let f = families[name]!
            if f.lines.isEmpty { continue }
            out += "# HELP \(name) \(escapeHelp(f.help))\n# TYPE \(name) \(f.type)\n"
            for l in f.lines { out += l + "\n" }
        }
        return out
    }

    static func render(_ labels: [String: String]) -> String {
        if labels.isEmpty { return "" }
        // `le` last reads naturally; the order does not matter to parsers.
        let keys = labels.keys.sorted { ($0 == "le" ? 1 : 0, $0) < ($1 == "le" ? 1 : 0, $1) }
        return "{" + keys.map { "\($0)=\"\(escapeLabel(labels[$0]!))\"" }.joined(separator: ",") + "}"
    }

    static func escapeLabel(_ s: String) -> String {
        var o = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": o += "\\\\"
            case "\"": o += "\\\""
            case "\n": o += "\\n"
            default: o.unicodeScalars.append(c)
            }
        }
        return o
    }

    static func escapeHelp(_ s: String) -> String {
        s.unicodeScalars.map { $0 == "\\" ? "\\\\" : ($0 == "\n" ? "\\n" : String($0)) }.joined()
    }
}
