import DuraGraphCore
import DuraGraphHTTP
import DuraGraphStorage

/// Native SSE: GET /api/v1/stream?run_id=, /api/v1/runs/:run_id/stream, /api/v1/threads/:thread_id/stream.
/// `id:` is the run's event sequence number (for thread streams, the thread-wide event id), so a
/// client resumes with Last-Event-ID (or ?last_event_id=).
struct NativeStreamAPI {
    let hub: StreamHub
    let threads: ThreadsSQL
    /// `run.deleted` is not in the log: the hub makes it up when the run is deleted before its end.
    static let terminal: Set<String> = ["run.completed", "run.failed", "run.cancelled", "run.deleted"]

    static func frame(_ e: EventsSQL.Event, id: Int64) -> String {
        let data: JSON = ["run_id": .string(e.runID), "thread_id": .string(e.threadID), "seq": .int(e.seq),
                          "type": .string(e.type), "ts": .string(e.ts), "data": e.data]
        return "id: \(id)\nevent: \(e.type)\ndata: \(data.description)\n\n"
    }

    func register(_ api: APIBuilder) {
        let hub = self.hub
        let threads = self.threads
        let runStream: HTTPHandler = { req in
            let raw = req.pathParams["run_id"] ?? req.queryValue("run_id") ?? ""
            if raw.isEmpty { throw HTTPError.validation("run_id", "run_id is required") }
            guard Random.isUUID(raw) else { throw HTTPError.notFound("run", raw) }
            let runID = raw.lowercased()
            let after = try Self.lastEventID(req)
            let sub = Subscriber(scope: .run(runID), after: after, hub: hub, preamble: "retry: 2000\n\n") { e in
                (Self.frame(e, id: e.seq), Self.terminal.contains(e.type))
            }
            // Listening before reading: an event committed meanwhile arrives live.
            hub.add(sub)
            let found: (threadID: String, events: [EventsSQL.Event])?
            do { found = try hub.events.runWithEvents(runID, after: after, limit: Subscriber.catchUpBatch) } catch { hub.remove(sub); throw error }
            guard let found else { hub.remove(sub); throw HTTPError.notFound("run", runID) }
            sub.prime(found.events)
            return .eventStream(sub)
        }
        let params: [Operation.Param] = [.init(name: "last_event_id", schema: ["type": "integer", "minimum": 0],
                                               description: "Resume after this event id (or send Last-Event-ID).")]
        api.add(Operation(method: "GET", path: "/api/v1/stream", summary: "Stream a run's events (SSE)", tag: "streams",
                          query: [.init(name: "run_id", schema: ["type": "string", "format": "uuid"], description: "The run.")] + params,
                          success: (200, nil)), runStream)
        api.add(Operation(method: "GET", path: "/api/v1/runs/:run_id/stream", summary: "Stream a run's events (SSE)", tag: "streams",
                          query: params, success: (200, nil)), runStream)
        api.add(Operation(method: "GET", path: "/api/v1/threads/:thread_id/stream",
                          summary: "Stream the events of every run of a thread (SSE); stays open", tag: "streams",
                          query: params, success: (200, nil))) { req in
            let threadID = try req.uuidParam("thread_id", resource: "thread")
            guard try threads.get(id: threadID) != nil else { throw HTTPError.notFound("thread", threadID) }
            let sub = Subscriber(scope: .thread(threadID), after: try Self.lastEventID(req), hub: hub, preamble: "retry: 2000\n\n") { e in
                (Self.frame(e, id: e.eventID), e.type == "thread.deleted")
            }
            return .eventStream(sub)
        }
    }

    static func lastEventID(_ req: HTTPRequest) throws(HTTPError) -> Int64 {
        guard let raw = req.header("last-event-id") ?? req.queryValue("last_event_id"), !raw.isEmpty else { return 0 }
        guard let v = Int64(raw.trimmingSpaces()), v >= 0 else {
            throw HTTPError.validation("last_event_id", "Last-Event-ID must be a non-negative integer")
        }
        return v
    }
}
