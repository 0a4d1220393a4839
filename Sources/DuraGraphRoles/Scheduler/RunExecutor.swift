import DuraGraphCore
import DuraGraphEngine
import DuraGraphStorage

/// Executes one claimed run step by step. After each step the new state is checkpointed together
/// with the step's events (one transaction, under the lease), so a run whose scheduler dies
/// continues from its last checkpoint elsewhere, and a stream never shows a step that was not saved.
final class RunExecutor: StepContext {
    let run: SchedulerSQL.Claimed
    let owner: String
    let sql: SchedulerSQL
    let settings: Settings
    let llm: LLMClient
    unowned let scheduler: SchedulerRole
    let startedAt = Clock.monotonic()

    private var seq: Int64
    private var pending: [SchedulerSQL.Event] = []
    private var persistedMessageIDs: Set<String> = []
    /// Messages the thread had before this run: the output lists the others.
    private var initialMessageIDs: Set<String> = []
    var resume: JSON?
    let assistantConfig: [String: JSON]

    init(run: SchedulerSQL.Claimed, owner: String, sql: SchedulerSQL, settings: Settings, llm: LLMClient, scheduler: SchedulerRole) {
        self.run = run
        self.owner = owner
        self.sql = sql
        self.settings = settings
        self.llm = llm
        self.scheduler = scheduler
        self.seq = run.nextSeq
        self.resume = run.toolOutputs
        self.assistantConfig = run.assistantConfig.objectValue ?? [:]
    }

    // MARK: StepContext

    func emit(_ type: String, _ data: JSON) {
        pending.append(.init(seq: seq, type: type, data: data))
        seq += 1
        // Tokens and tool calls are streamed as they happen, not at the next checkpoint.
        if type == "llm.token" || type == "tool.call" { flush() }
    }

    var timedOut: Bool { run.runningFor + (Clock.monotonic() - startedAt) > settings.runTimeout }
    var shouldStop: Bool { scheduler.shouldStop(run.runID) || timedOut }

    private func flush() {
        guard !pending.isEmpty else { return }
        do {
            if try sql.saveProgress(owner: owner, runID: run.runID, threadID: run.threadID, events: pending, checkpoint: nil,
                                    newMessages: [], leaseSeconds: settings.leaseSeconds) {
                scheduler.cancels.withLock { _ = $0.insert(run.runID) }
            }
            pending = []
        } catch {
            // Kept for the next write; a lost lease surfaces there.
        }
    }

    // MARK: execution

    func execute() {
        do {
            try executeSteps()
        } catch is SchedulerSQL.LeaseLost {
            Log.warn("lost the lease of a run (another scheduler took it over, or the run was deleted); stopped it", ["run_id": .string(run.runID)])
        } catch {
            Log.error("run execution failed", ["run_id": .string(run.runID), "error": .string(String(describing: error))])
            // The lease will expire and the run will be retried elsewhere (or failed after its attempts).
        }
    }

    private func executeSteps() throws {
        let graph: Graph
        do {
            graph = try BuiltinGraphs.resolve(graphID: run.graphID, config: assistantConfig)
        } catch {
            // The thread's state is left as it was (no final values); run.failed ends its streams.
            let err: JSON = ["code": "invalid_graph", "message": .string(error.description)]
            emit("run.started", ["attempt": .int(Int64(run.attempt))])
            emit("run.failed", err)
            return try finish(.init(status: "failed", error: err), state: nil, checkpoint: nil)
        }
        let from = run.langgraph ? LangGraphAPI.startCheckpoint(run.kwargs) : nil
        let start = try sql.startPoint(run, from: from)
        var state = State(start.values.objectValue ?? [:])
        for m in state.messages { if let id = m["id"]?.stringValue { persistedMessageIDs.insert(id) } }
        initialMessageIDs = persistedMessageIDs
        var node: String? = start.next.first
        var step = start.step
        var parent = start.checkpointID
        if !start.resumed {
            state.apply(State.prepare(Self.inputUpdate(run.input)))
            node = graph.entry
            // From a checkpoint with no new input: replay what was next there (LangGraph).
            if from != nil, run.input.objectValue?.isEmpty ?? true, let next = start.next.first { node = next }
            // LangGraph command.goto: start at that node (with its Send input applied), not the entry.
            if let target = Self.gotoTarget(run.kwargs) {
                guard graph.nodes[target.node] != nil else {
                    emit("run.started", ["attempt": .int(Int64(run.attempt))])
                    return try fail(["code": "invalid_goto", "message": .string("command.goto names no node of the graph: \(target.node)")], state)
                }
                if let u = target.input { state.apply(State.prepare(u)) }
                node = target.node
            }
        }
        // The state the run starts from: LangGraph's first `values` event.
        emit("run.started", ["attempt": .int(Int64(run.attempt)), "resumed": .bool(start.resumed), "values": .object(state.values)])
        // A run resumed at an interrupt_before pause runs that node now instead of pausing again.
        var skipBefore = start.resumed && run.toolOutputs != nil
        let before = Self.nodeSet(run.kwargs["interrupt_before"]), after = Self.nodeSet(run.kwargs["interrupt_after"])
        var firstStep = true
        while let current = node {
            defer { firstStep = false }
            if scheduler.draining.load(ordering: .relaxed) {
                try sql.saveProgress(owner: owner, runID: run.runID, threadID: run.threadID, events: pending,
                                     checkpoint: nil, newMessages: newMessages(state), leaseSeconds: settings.leaseSeconds)
                pending = []
                try sql.release(owner: owner, runID: run.runID)
                Log.info("run handed back while draining", ["run_id": .string(run.runID)])
                return
            }
            // The database is asked too (a control notification may have been missed); before
            // the first step, the claim has just read the flag.
            if scheduler.shouldStop(run.runID) || (firstStep ? run.cancelRequested : (try? sql.cancelRequested(runID: run.runID)) == true) {
                return try cancelled(state)
            }
            if timedOut {
                return try fail(timeoutError, state)
            }
            if step >= graph.recursionLimit {
                return try fail(["code": "recursion_limit", "message": .string("graph recursion limit of \(graph.recursionLimit) steps reached")], state)
            }
            guard let n = graph.nodes[current] else { break }
            if !skipBefore && (before.contains(current) || before.contains("*")) {
                return try pause(before: current, ["type": "interrupt", "when": "before", "node": .string(current)],
                                 state: state, step: step, parent: parent)
            }
            skipBefore = false
            if n.kind != .human && n.kind != .tool, let input = resume {
                // Resuming an interrupt: an object is a state update for the node about to run.
                if case .object(let o) = input { state.apply(State.prepare(o)) }
                resume = nil
            }
            emit("node.started", ["node": .string(current), "type": .string(n.kind.rawValue), "step": .int(Int64(step))])
            if n.kind == .llm || n.kind == .tool || n.kind == .human { flush() }
            let outcome: StepOutcome
            let nodeStart = Clock.monotonic()
            do {
                outcome = try Nodes.run(n, state: state, ctx: self)
                Metrics.nodeExecutions.inc(["node_type": n.kind.rawValue, "outcome": "ok"])
                Metrics.nodeDuration.observe(["node_type": n.kind.rawValue], Clock.monotonic() - nodeStart)
            } catch let e as StepError {
                Metrics.nodeExecutions.inc(["node_type": n.kind.rawValue, "outcome": "error"])
                if timedOut {
                    return try fail(timeoutError, state)
                }
                if e.code == "cancelled" || scheduler.shouldStop(run.runID) {
                    return try cancelled(state)
                }
                return try fail(["code": .string(e.code), "message": .string(e.description), "node": .string(current)], state)
            }
            resume = nil
            switch outcome {
            case .pause(let action):
                // The node runs again, with the submitted input, when the run resumes.
                return try pause(before: current, action, state: state, step: step, parent: parent)
            case .update(let raw):
                let update = State.prepare(raw)
                state.apply(update)
                step += 1
                let next = graph.next(after: current, state: state)
                let cp = checkpoint(state: state, step: step, next: next.map { [$0] } ?? [], parent: parent, source: "loop",
                                    writes: [current: .object(update)])
                parent = cp.id
                emit("node.completed", ["node": .string(current), "type": .string(n.kind.rawValue), "step": .int(Int64(step)),
                                        "update": .object(update)])
                emit("checkpoint.saved", ["checkpoint_id": .string(cp.id), "step": .int(Int64(step)),
                                          "next": .array((next.map { [$0] } ?? []).map(JSON.string)), "values": .object(state.values)])
                if next != nil, after.contains(current) || after.contains("*") {
                    return try requireAction(["type": "interrupt", "when": "after", "node": .string(current)], state: state, checkpoint: cp)
                }
                if next == nil {
                    let output = Self.output(state, since: initialMessageIDs)
                    emit("run.completed", ["output": output])
                    return try finish(.init(status: "completed", output: output, finalValues: .object(state.values)), state: state, checkpoint: cp)
                }
                if try sql.saveProgress(owner: owner, runID: run.runID, threadID: run.threadID, events: pending, checkpoint: cp,
                                        newMessages: newMessages(state), leaseSeconds: settings.leaseSeconds) {
                    scheduler.cancels.withLock { _ = $0.insert(run.runID) }
                }
                markPersisted(state)
                pending = []
                node = next
            }
        }
        let output = Self.output(state, since: initialMessageIDs)
        emit("run.completed", ["output": output])
        try finish(.init(status: "completed", output: output, finalValues: .object(state.values)), state: state, checkpoint: nil)
    }

    /// Pauses with `node` still to run (interrupt_before, or a node waiting for input): a
    /// checkpoint whose next node is `node`, then requires_action.
    private func pause(before node: String, _ action: JSON, state: State, step: Int, parent: String?) throws {
        let cp = checkpoint(state: state, step: step, next: [node], parent: parent, source: "interrupt")
        emit("checkpoint.saved", ["checkpoint_id": .string(cp.id), "step": .int(Int64(step)), "next": [.string(node)],
                                  "values": .object(state.values)])
        try requireAction(action, state: state, checkpoint: cp)
    }

    /// Ends this execution waiting for input; the run continues from `cp` when resumed.
    private func requireAction(_ action: JSON, state: State, checkpoint cp: SchedulerSQL.Checkpoint) throws {
        emit("run.requires_action", action)
        try finish(.init(status: "requires_action", requiredAction: action, finalValues: .object(state.values)), state: state, checkpoint: cp)
    }

    private var timeoutError: JSON {
        ["code": "timeout", "message": .string("run exceeded RUN_TIMEOUT of \(Int(settings.runTimeout))s")]
    }

    /// Ends the run as failed with `error` (also its run.failed event).
    private func fail(_ error: JSON, _ state: State) throws {
        emit("run.failed", error)
        try finish(.init(status: "failed", error: error, finalValues: .object(state.values)), state: state, checkpoint: nil)
    }

    private func cancelled(_ state: State) throws {
        emit("run.cancelled", [:])
        try finish(.init(status: "cancelled", finalValues: .object(state.values)), state: state, checkpoint: nil)
    }

    private func finish(_ f: SchedulerSQL.Finish, state: State?, checkpoint: SchedulerSQL.Checkpoint?) throws {
        var f = f
        if run.langgraph && run.hasWebhook {
            // LangGraph's webhook body: the run as its API shows it, plus final values and error.
            f.runWebhookPayload = ["run_id": .string(run.runID), "thread_id": .string(run.threadID), "assistant_id": .string(run.assistantID),
                                   "status": .string(LG.runStatus(["status": .string(f.status), "error": f.error ?? .null])),
                                   "kwargs": run.kwargs, "values": LG.values(f.finalValues ?? [:]),
                                   "error": f.error?["message"] ?? .null]
        }
        try sql.finish(owner: owner, run: run, f, events: pending, checkpoint: checkpoint,
                       newMessages: state.map(newMessages) ?? [])
        pending = []
        Metrics.runsFinished.inc(["status": f.status])
        Metrics.runDuration.observe(["status": f.status], Clock.monotonic() - startedAt)
    }

    private func checkpoint(state: State, step: Int, next: [String], parent: String?, source: String,
                            writes: [String: JSON] = [:]) -> SchedulerSQL.Checkpoint {
        .init(id: Random.uuid(), parentID: parent, step: step, next: next, values: .object(state.values),
              metadata: ["source": .string(source), "step": .int(Int64(step)), "run_id": .string(run.runID),
                         "writes": .object(writes)])
    }

    private func newMessages(_ state: State) -> [JSON] {
        state.messages.filter { m in m["id"]?.stringValue.map { !persistedMessageIDs.contains($0) } ?? false }
    }

    private func markPersisted(_ state: State) {
        for m in state.messages { if let id = m["id"]?.stringValue { persistedMessageIDs.insert(id) } }
    }

    /// LangGraph command.goto: a node name, a Send {node, input}, or a list of one of those.
    /// nil when absent; `.node == ""` when malformed or naming several targets (DuraGraph runs one
    /// branch at a time), which the API refuses before the run exists.
    static func gotoTarget(_ kwargs: JSON) -> (node: String, input: [String: JSON]?)? {
        guard var g = kwargs["command"]?["goto"], g != .null else { return nil }
        if case .array(let a) = g {
            guard a.count == 1 else { return ("", nil) }
            g = a[0]
        }
        if let name = g.stringValue { return (name, nil) }
        guard let name = g["node"]?.stringValue else { return ("", nil) }
        switch g["input"] {
        case .object(let o)?: return (name, o)
        case nil, .null?: return (name, nil)
        default: return ("", nil)
        }
    }

    /// interrupt_before / interrupt_after: "*" or a list of node names.
    static func nodeSet(_ v: JSON?) -> Set<String> {
        if let s = v?.stringValue { return [s] }
        return Set((v?.arrayValue ?? []).compactMap(\.stringValue))
    }

    /// Native input {"message": "Hello"} appends a user message; {"messages": [...]} appends
    /// those; every other key is set on the state.
    static func inputUpdate(_ input: JSON) -> [String: JSON] {
        guard case .object(var o) = input else { return [:] }
        var msgs: [JSON] = o.removeValue(forKey: "messages")?.arrayValue ?? []
        if let m = o.removeValue(forKey: "message") {
            msgs.append(m.stringValue.map { ["role": "user", "content": .string($0)] } ?? m)
        }
        if !msgs.isEmpty { o["messages"] = .array(msgs) }
        return o
    }

    /// {"response": text of the last assistant message, "messages": messages the run added}
    static func output(_ state: State, since known: Set<String>) -> JSON {
        let added = state.messages.filter { m in m["id"]?.stringValue.map { !known.contains($0) } ?? true }
        let lastAI = state.messages.last(where: { $0["role"]?.stringValue == "assistant" })
        return ["response": .string(State.text(of: lastAI)), "messages": .array(added)]
    }
}
