import DuraGraphCore
import DuraGraphEngine
import DuraGraphHTTP
import DuraGraphStorage

extension LangGraphAPI {
    func registerCrons(_ api: APIBuilder) {
        let crons = CronsSQL(pool: lg.pool)
        for onThread in [true, false] {
            api.add(op("POST", onThread ? "/threads/:thread_id/runs/crons" : "/runs/crons", "Create a cron")) { req in
                let f = Fields(try req.jsonObject())
                guard let schedule = try f.string("schedule") else { throw Self.detail(422, "schedule is required") }
                guard let raw = try f.string("assistant_id") else { throw Self.detail(422, "assistant_id is required") }
                let aid = try assistantID(raw)
                guard try assistants.exists(id: aid) else { throw Self.detail(404, "Assistant not found") }
                var threadID: String?
                if onThread {
                    threadID = try self.threadID(req)
                    guard try lg.thread(id: threadID!) != nil else { throw Self.detail(404, "Thread not found") }
                }
                let tz = try f.string("timezone") ?? "UTC"
                let next = try Self.firstFire(crons, schedule: schedule, timezone: tz)
                _ = try webhook(f.o["webhook"])   // the runs it fires will post there
                var payload: [String: JSON] = [:]
                for k in ["input", "config", "context", "metadata", "webhook", "multitask_strategy", "interrupt_before", "interrupt_after",
                          "stream_mode", "durability"] { if let v = f.o[k], v != .null { payload[k] = v } }
                let enabled = f.o["enabled"]?.boolValue ?? true
                do {
                    let c = try crons.create(id: Random.uuid(), .init(assistantID: aid, threadID: threadID, schedule: schedule, timezone: tz,
                                                                   payload: .object(payload), metadata: try f.object("metadata") ?? [:],
                                                                   enabled: enabled, endTime: try f.string("end_time"),
                                                                   onRunCompleted: try f.string("on_run_completed")), nextRunAt: next)
                    return .json(200, c)
                } catch let e as PGError where e.sqlState?.hasPrefix("22") == true {
                    throw Self.detail(422, "invalid end_time")
                }
            }
        }
        api.add(op("PATCH", "/runs/crons/:cron_id", "Update a cron")) { req in
            let id = req.param("cron_id")
            guard Random.isUUID(id), let current = try crons.get(id: id) else { throw Self.detail(404, "Cron not found") }
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let schedule = try f.string("schedule"), tz = try f.string("timezone")
            var next: String?
            if schedule != nil || tz != nil {
                next = try Self.firstFire(crons, schedule: schedule ?? current["schedule"]?.stringValue ?? "",
                                          timezone: tz ?? current["timezone"]?.stringValue ?? "UTC")
            }
            _ = try webhook(f.o["webhook"])
            var payload: [String: JSON] = [:]
            for k in ["input", "config", "context", "webhook", "multitask_strategy"] { if let v = f.o[k] { payload[k] = v } }
            do {
                guard let c = try crons.update(id: id, schedule: schedule, timezone: tz, payload: payload.isEmpty ? nil : .object(payload),
                                               metadata: try f.object("metadata"), enabled: f.o["enabled"]?.boolValue,
                                               endTime: f.present("end_time") ? f.o["end_time"] : nil, nextRunAt: next) else {
                    throw Self.detail(404, "Cron not found")
                }
                return .json(200, c)
            } catch let e as PGError where e.sqlState?.hasPrefix("22") == true {
                throw Self.detail(422, "invalid end_time")
            }
        }
        api.add(op("DELETE", "/runs/crons/:cron_id", "Delete a cron", 204)) { req in
            let id = req.param("cron_id")
            guard Random.isUUID(id), try crons.delete(id: id) else { throw Self.detail(404, "Cron not found") }
            return .empty(204)
        }
        api.add(op("POST", "/runs/crons/search", "Search crons")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let aid = try f.string("assistant_id").map { try assistantID($0) }
            let (limit, offset) = try f.page(limit: 10)
            return .json(200, .array(try crons.search(assistantID: aid, threadID: try f.uuid("thread_id"), enabled: f.o["enabled"]?.boolValue,
                                                      metadata: try f.object("metadata"), limit: limit, offset: offset)))
        }
        api.add(op("POST", "/runs/crons/count", "Count crons")) { req in
            let f = Fields(try req.jsonObject(allowEmpty: true))
            let aid = try f.string("assistant_id").map { try assistantID($0) }
            return .json(200, .int(Int64(try crons.count(assistantID: aid, threadID: try f.uuid("thread_id"), metadata: try f.object("metadata")))))
        }
    }

    static func firstFire(_ crons: CronsSQL, schedule: String, timezone: String) throws -> String {
        do {
            guard let n = try CronTicker.next(crons, schedule: schedule, timezone: timezone, after: nil) else {
                throw Self.detail(422, "schedule never fires")
            }
            return n
        } catch let e as CronExpression.ParseError {
            throw Self.detail(422, "invalid schedule: \(e.description)")
        } catch let e as PGError where e.kind == .query {
            throw Self.detail(422, "invalid timezone \(timezone)")
        }
    }
}
