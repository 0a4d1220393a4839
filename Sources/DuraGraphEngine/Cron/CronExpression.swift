/// A 5-field cron expression (minute hour day-of-month month day-of-week), with *, lists, ranges,
/// steps and names (jan..dec, sun..sat). Matching is on wall-clock fields in the cron's timezone
/// (the caller converts with PostgreSQL's time zone database).
public struct CronExpression: Sendable, Equatable {
    public let minutes: Set<Int>
    public let hours: Set<Int>
    public let days: Set<Int>
    public let months: Set<Int>
    public let weekdays: Set<Int>
    let daysRestricted: Bool
    let weekdaysRestricted: Bool

    public struct ParseError: Error, CustomStringConvertible, Sendable { public let description: String }

    public init(_ text: String) throws(ParseError) {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard f.count == 5 else { throw ParseError(description: "a cron schedule has 5 fields (minute hour day month weekday), got \(f.count)") }
        minutes = try Self.field(f[0], 0...59, "minute")
        hours = try Self.field(f[1], 0...23, "hour")
        days = try Self.field(f[2], 1...31, "day of month")
        months = try Self.field(f[3], 1...12, "month", names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], base: 1)
        var wd = try Self.field(f[4], 0...7, "day of week", names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], base: 0)
        if wd.contains(7) { wd.remove(7); wd.insert(0) }
        weekdays = wd
        daysRestricted = f[2] != "*" && f[2] != "?"
        weekdaysRestricted = f[4] != "*" && f[4] != "?"
    }

    static func field(_ s: String, _ range: ClosedRange<Int>, _ name: String, names: [String] = [], base: Int = 0) throws(ParseError) -> Set<Int> {
        var out = Set<Int>()
        func value(_ t: Substring) throws(ParseError) -> Int {
            if let v = Int(t), range.contains(v) { return v }
            if let i = names.firstIndex(of: t.lowercased()) { return i + base }
            throw ParseError(description: "invalid \(name) value \"\(t)\"")
        }
        for part in s.split(separator: ",") {
            let stepParts = part.split(separator: "/", maxSplits: 1)
            var step = 1
            if stepParts.count == 2 {
                guard let st = Int(stepParts[1]), st > 0 else { throw ParseError(description: "invalid \(name) step in \"\(part)\"") }
                step = st
            }
            let body = stepParts[0]
            var lo = range.lowerBound, hi = range.upperBound
            if body == "*" || body == "?" {
            } else if let dash = body.firstIndex(of: "-") {
                lo = try value(body[..<dash])
                hi = try value(body[body.index(after: dash)...])
                guard lo <= hi else { throw ParseError(description: "invalid \(name) range \"\(body)\"") }
            } else {
                lo = try value(body)
                hi = stepParts.count == 2 ? range.upperBound : lo
            }
            var v = lo
            while v <= hi { out.insert(v); v += step }
        }
        guard !out.isEmpty else { throw ParseError(description: "empty \(name) field") }
        return out
    }

    public struct WallTime: Sendable, Equatable {
        public var year, month, day, hour, minute: Int
        public init(year: Int, month: Int, day: Int, hour: Int, minute: Int) {
            self.year = year; self.month = month; self.day = day; self.hour = hour; self.minute = minute
        }
    }

    static func daysIn(_ y: Int, _ m: Int) -> Int {
        [31, (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
    }

    /// 0 = Sunday (Sakamoto's method).
    static func weekday(_ y: Int, _ m: Int, _ d: Int) -> Int {
        let t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]
        let yy = m < 3 ? y - 1 : y
        return (yy + yy / 4 - yy / 100 + yy / 400 + t[m - 1] + d) % 7
    }

    func dayMatches(_ y: Int, _ m: Int, _ d: Int) -> Bool {
        let dom = days.contains(d), dow = weekdays.contains(Self.weekday(y, m, d))
        // Classic cron: when both day fields are restricted, either may match.
        if daysRestricted && weekdaysRestricted { return dom || dow }
        return dom && dow
    }

    /// The first matching wall time strictly after `t` (within ~5 years), or nil.
    public func next(after t: WallTime) -> WallTime? {
        var y = t.year, mo = t.month, d = t.day, h = t.hour, mi = t.minute + 1
        if mi > 59 { mi = 0; h += 1 }
        if h > 23 { h = 0; d += 1 }
        if d > Self.daysIn(y, mo) { d = 1; mo += 1 }
        if mo > 12 { mo = 1; y += 1 }
        for _ in 0..<(366 * 5) {
            if months.contains(mo) && dayMatches(y, mo, d) {
                while h <= 23 {
                    if hours.contains(h), let m = minutes.sorted().first(where: { $0 >= mi }) {
                        return WallTime(year: y, month: mo, day: d, hour: h, minute: m)
                    }
                    h += 1
                    mi = 0
                }
            }
            h = 0; mi = 0; d += 1
            if d > Self.daysIn(y, mo) { d = 1; mo += 1 }
            if mo > 12 { mo = 1; y += 1 }
        }
        return nil
    }
}
