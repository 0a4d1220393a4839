import DuraGraphCore

/// Reading the run event log (the scheduler writes it, see SchedulerSQL).
public struct EventsSQL: Sendable {
    let pool: PGPool
    public init(pool: PGPool) { self.pool = pool }

    public struct Event: Sendable {
        public let eventID: Int64
        public let runID: String
        public let threadID: String
        public let seq: Int64
        public let type: String
        public let ts: String
        public let data: JSON
        public init(eventID: Int64, runID: String, threadID: String, seq: Int64, type: String, ts: String, data: JSON) {
            self.eventID = eventID; self.runID = runID; self.threadID = threadID; self.seq = seq; self.type = type; self.ts = ts; self.data = data
        }
    }

    static let columns = """
        e.event_id, e.run_id::text AS run_id, e.thread_id::text AS thread_id, e.seq, e.type, duragraph_ts(e.created_at) AS ts, e.data
        """

    /// Events of one run with seq > `after`, in order.
    public func run(_ runID: String, after: Int64, limit: Int = 1000) throws -> [Event] {
        try pool.query("""
            SELECT \(Self.columns) FROM run_events e WHERE e.run_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3
            """, [runID, String(after), String(limit)]).all.map(Self.event)
    }

    /// Events of every run of a thread with event_id > `after`, in order.
    public func thread(_ threadID: String, after: Int64, limit: Int = 1000) throws -> [Event] {
        try pool.query("""
            SELECT \(Self.columns) FROM run_events e WHERE e.thread_id = $1 AND e.event_id > $2 ORDER BY e.event_id LIMIT $3
            """, [threadID, String(after), String(limit)]).all.map(Self.event)
    }

    /// The run's thread and its events with seq > `after` (up to `limit`), in one read; nil when
    /// the run does not exist.
    public func runWithEvents(_ runID: String, after: Int64, limit: Int) throws -> (threadID: String, events: [Event])? {
        guard let r = try pool.query("""
            SELECT r.thread_id::text AS t, (
                SELECT jsonb_agg(jsonb_build_array(e.event_id, e.seq, e.type, duragraph_ts(e.created_at), e.data) ORDER BY e.seq)
                FROM (SELECT * FROM run_events e WHERE e.run_id = r.run_id AND e.seq > $2 ORDER BY e.seq LIMIT $3) e) AS events
            FROM runs r WHERE r.run_id = $1
            """, [runID, String(after), String(limit)]).first else { return nil }
        let threadID = r["t"]!
        return (threadID, Self.events(r.json("events"), runID: runID, threadID: threadID) ?? [])
    }

    /// Events given as [[event_id, seq, type, ts, data], ...].
    public static func events(_ rows: JSON?, runID: String, threadID: String) -> [Event]? {
        guard let rows = rows?.arrayValue else { return nil }
        var out: [Event] = []
        out.reserveCapacity(rows.count)
        for row in rows {
            guard let a = row.arrayValue, a.count == 5, let id = a[0].intValue, let seq = a[1].intValue,
                  let type = a[2].stringValue else { return nil }
            out.append(Event(eventID: id, runID: runID, threadID: threadID, seq: seq, type: type, ts: a[3].stringValue ?? "", data: a[4]))
        }
        return out
    }

    public func threadExists(_ threadID: String) throws -> Bool {
        try !pool.query("SELECT 1 FROM threads WHERE thread_id = $1", [threadID]).all.isEmpty
    }

    /// The run's thread and status, or nil when the run does not exist.
    public func runInfo(_ runID: String) throws -> (threadID: String, status: String)? {
        guard let r = try pool.query("SELECT thread_id::text AS t, status FROM runs WHERE run_id = $1", [runID]).first else { return nil }
        return (r["t"]!, r["status"]!)
    }

    /// Appends one event after the run's last (inside the caller's transaction) and announces it.
    /// For writers other than the run's executor: cancellation of a run that is not executing,
    /// recovery of a run whose scheduler died.
    static func append(_ c: PGConnection, runID: String, type: String, data: JSON) throws {
        let r = try c.query("""
            INSERT INTO run_events (run_id, thread_id, seq, type, data)
            SELECT $1, (SELECT thread_id FROM runs WHERE run_id = $1), coalesce(max(seq), 0) + 1, $2, $3::jsonb
            FROM run_events WHERE run_id = $1
            RETURNING seq
            """, [runID, type, data.description])
        try c.query("SELECT pg_notify($1, $2)", [SchedulerSQL.eventsChannel, "\(runID):\(r.first?["seq"] ?? "0")"])
    }

    static func event(_ r: PGRow) -> Event {
        Event(eventID: r.int("event_id") ?? 0, runID: r["run_id"]!, threadID: r["thread_id"]!, seq: r.int("seq") ?? 0,
              type: r["type"]!, ts: r["ts"] ?? "", data: r.json("data") ?? .null)
    }
}
