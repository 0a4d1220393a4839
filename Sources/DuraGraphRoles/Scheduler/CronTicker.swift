import DuraGraphCore
import DuraGraphEngine
import DuraGraphStorage

/// The cron loop of a scheduler: every second, fire the crons that are due. Several schedulers
/// may run it at once; CronsSQL.fireDue makes each fire time produce one run.
enum CronTicker {
    static let interval = 1.0

    /// The next fire time (RFC 3339 UTC) of `schedule` in `timezone` strictly after `after`.
    static func next(_ sql: CronsSQL, schedule: String, timezone: String, after: String?) throws -> String? {
        let expr = try CronExpression(schedule)
        let w = try sql.wallTime(after, timezone: timezone)
        guard w.count == 5, let n = expr.next(after: .init(year: w[0], month: w[1], day: w[2], hour: w[3], minute: w[4])) else { return nil }
        return try sql.instant([n.year, n.month, n.day, n.hour, n.minute], timezone: timezone)
    }

    static func start(_ sql: CronsSQL, stop: Event, wake: WakeSignal) {
        startThread(name: "crons") {
            while !stop.wait(seconds: interval) {
                do {
                    let runs = try sql.fireDue(limit: 100) { schedule, tz, fire in try next(sql, schedule: schedule, timezone: tz, after: fire) }
                    if !runs.isEmpty {
                        Metrics.runsCreated.inc(by: Double(runs.count))
                        Log.info("crons fired", ["runs": .int(Int64(runs.count))])
                        wake.signal()
                    }
                } catch {
                    Log.warn("cron loop failed", ["error": .string(String(describing: error))])
                }
            }
        }
    }
}
