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
