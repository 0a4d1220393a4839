import Glibc
import Synchronization

/// In-process metrics of one role: counters, gauges and fixed-bucket histograms, each a family
/// with labels. A role publishes a snapshot for the metrics role to merge (see MetricsFile);
/// label values must come from bounded sets (route templates, statuses), never ids or raw paths.
public final class MetricFamily: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    public let name: String
    public let help: String
    public let kind: Kind
    public let buckets: [Double]
    struct Series { var value = 0.0; var counts: [UInt64] = []; var sum = 0.0; var count: UInt64 = 0 }
    private let series = Mutex<[[String: String]: Series]>([:])

    init(name: String, help: String, kind: Kind, buckets: [Double] = []) {
        self.name = name; self.help = help; self.kind = kind; self.buckets = buckets
    }

    public func inc(_ labels: [String: String] = [:], by v: Double = 1) {
        series.withLock { $0[labels, default: Series()].value += v }
    }

    public func set(_ labels: [String: String] = [:], _ v: Double) {
        series.withLock { $0[labels, default: Series()].value = v }
    }

    /// Replaces every series (for gauges recomputed as a whole, e.g. runs by status).
    public func replaceAll(_ values: [[String: String]: Double]) {
        series.withLock { s in
            s.removeAll()
            for (l, v) in values { s[l] = Series(value: v) }
        }
    }

    public func observe(_ labels: [String: String] = [:], _ v: Double) {
        series.withLock { s in
            var x = s[labels] ?? Series(counts: Array(repeating: 0, count: buckets.count))
            for (i, b) in buckets.enumerated() where v <= b { x.counts[i] += 1 }
            x.sum += v
            x.count += 1
            s[labels] = x
        }
    }

    /// {name, help, type, samples: [{suffix, labels, value}]}; histogram buckets are cumulative.
    func snapshot() -> JSON {
        let all = series.withLock { $0 }
        var samples: [JSON] = []
        for (labels, s) in all.sorted(by: { $0.key.description < $1.key.description }) {
            let l = JSON.object(labels.mapValues(JSON.string))
            if kind == .histogram {
                for (i, b) in buckets.enumerated() {
                    var bl = labels
                    bl["le"] = Self.format(b)
                    samples.append(["suffix": "_bucket", "labels": .object(bl.mapValues(JSON.string)), "value": .double(Double(s.counts[i]))])
                }
                var inf = labels
                inf["le"] = "+Inf"
                samples.append(["suffix": "_bucket", "labels": .object(inf.mapValues(JSON.string)), "value": .double(Double(s.count))])
                samples.append(["suffix": "_sum", "labels": l, "value": .double(s.sum)])
                samples.append(["suffix": "_count", "labels": l, "value": .double(Double(s.count))])
            } else {
                samples.append(["suffix": "", "labels": l, "value": .double(s.value)])
            }
        }
        return ["name": .string(name), "help": .string(help), "type": .string(kind.rawValue), "samples": .array(samples)]
    }

    static func format(_ v: Double) -> String {
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v.rounded() == v && abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}

public final class MetricsRegistry: Sendable {
    private let families = Mutex<[String: MetricFamily]>([:])
    public init() {}

    public static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    public func counter(_ name: String, _ help: String) -> MetricFamily { family(name, help, .counter) }
    public func gauge(_ name: String, _ help: String) -> MetricFamily { family(name, help, .gauge) }
    public func histogram(_ name: String, _ help: String, buckets: [Double] = durationBuckets) -> MetricFamily {
        family(name, help, .histogram, buckets)
    }

    private func family(_ name: String, _ help: String, _ kind: MetricFamily.Kind, _ buckets: [Double] = []) -> MetricFamily {
        families.withLock { f in
            if let existing = f[name] { return existing }
            let m = MetricFamily(name: name, help: help, kind: kind, buckets: buckets)
            f[name] = m
            return m
        }
    }

    public func snapshot() -> [JSON] {
        families.withLock { Array($0.values) }.sorted { $0.name < $1.name }.map { $0.snapshot() }
    }
}
