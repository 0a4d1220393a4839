import DuraGraphCore
@testable import DuraGraphEngine
import Testing

@Suite struct GraphTests {
    @Test func builtinsParse() throws {
        for id in BuiltinGraphs.ids {
            _ = try BuiltinGraphs.resolve(graphID: id, config: [:])
        }
        let agent = try BuiltinGraphs.resolve(graphID: "agent", config: [:])
        var s = State()
        s.apply(["messages": [["role": "assistant", "content": "x", "tool_calls": [["id": "c1", "name": "f", "args": [:]]]]]])
        #expect(agent.next(after: "agent", state: s) == "tools")
        s.apply(["messages": [["role": "assistant", "content": "done"]]])
        #expect(agent.next(after: "agent", state: s) == nil)
        #expect(agent.next(after: "tools", state: s) == "agent")
    }

    @Test(arguments: [
        (#"{"nodes": {}}"#, "non-empty"),
        (#"{"entry": "a", "nodes": {"a": {"type": "nope"}}}"#, "unknown"),
        (#"{"entry": "b", "nodes": {"a": {"type": "echo"}}}"#, "not a node"),
        (#"{"entry": "a", "nodes": {"a": {"type": "echo"}, "b": {"type": "echo"}}}"#, "not reachable"),
        (#"{"entry": "a", "nodes": {"a": {"type": "echo"}}, "edges": [{"from": "a", "to": "zz"}]}"#, "not a node"),
        (#"{"entry": "a", "nodes": {"a": {"type": "echo"}}, "edges": [{"from": "a", "to": "a", "when": {"bogus": 1}}]}"#, "when"),
    ])
    func invalidGraphsNameTheProblem(_ def: String, _ expected: String) throws {
        do {
            _ = try Graph.parse(try JSON.parse(def))
            Issue.record("accepted an invalid graph")
        } catch let error as GraphError {
            #expect(error.description.contains(expected), "\(error.description)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func messagesReducerAppendsAndMergesByID() {
        var s = State()
        s.apply(["messages": [["id": "1", "role": "user", "content": "a"]], "k": 1])
        s.apply(["messages": [["id": "2", "type": "ai", "content": "b"]], "k": 2])
        s.apply(["messages": [["id": "1", "role": "user", "content": "A"]]])
        #expect(s.messages.count == 2)
        #expect(State.text(of: s.messages[0]) == "A")
        #expect(s.messages[1]["role"] == "assistant")
        #expect(s.values["k"] == 2)
    }

    @Test func sseParserSplitsEvents() {
        var p = SSEParser()
        var got: [(String, String)] = []
        p.feed(Array("event: a\ndata: 1\n\ndata: x\r\ndata: y\r\n\r\n: comment\n".utf8)) { got.append(($0, $1)) }
        p.feed(Array("data: tail".utf8)) { got.append(($0, $1)) }
        p.feed(Array("\n\n".utf8)) { got.append(($0, $1)) }
        #expect(got.map(\.0) == ["a", "", ""])
        #expect(got.map(\.1) == ["1", "x\ny", "tail"])
    }
}

@Suite struct CronTests {
    typealias W = CronExpression.WallTime

    @Test func everyMinuteAndSteps() throws {
        #expect(try CronExpression("* * * * *").next(after: W(year: 2026, month: 12, day: 31, hour: 23, minute: 59))
                == W(year: 2027, month: 1, day: 1, hour: 0, minute: 0))
        #expect(try CronExpression("*/15 9-17 * * *").next(after: W(year: 2026, month: 3, day: 2, hour: 17, minute: 45))
                == W(year: 2026, month: 3, day: 3, hour: 9, minute: 0))
    }

    @Test func weekdaysNamesAndLeapDays() throws {
        // 2026-12-04 is a Friday; the next Monday 08:30 is 2026-12-07.
        #expect(try CronExpression("30 8 * * mon").next(after: W(year: 2026, month: 12, day: 4, hour: 10, minute: 0))
                == W(year: 2026, month: 12, day: 7, hour: 8, minute: 30))
        #expect(try CronExpression("0 0 29 feb *").next(after: W(year: 2026, month: 1, day: 1, hour: 0, minute: 0))
                == W(year: 2028, month: 2, day: 29, hour: 0, minute: 0))
        // Both day fields restricted: either matches (the 1st, or a Sunday).
        #expect(try CronExpression("0 12 1 * 0").next(after: W(year: 2026, month: 12, day: 2, hour: 0, minute: 0))
                == W(year: 2026, month: 12, day: 6, hour: 12, minute: 0))
    }

    @Test(arguments: ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "5-1 * * * *", "*/0 * * * *", "x * * * *"])
    func rejects(_ text: String) {
        #expect(throws: CronExpression.ParseError.self) { try CronExpression(text) }
    }
}
