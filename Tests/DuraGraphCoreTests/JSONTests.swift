import DuraGraphCore
import DuraGraphHTTP
import Testing

@Suite struct JSONTests {
    @Test func roundTrip() throws {
        let text = #"{"a":[1,2.5,"x\n\"y\"",true,false,null],"b":{"c":-3},"e":"é😀"}"#
        let v = try JSON.parse(text)
        #expect(v["a"]?.arrayValue?.count == 6)
        #expect(v["b"]?["c"]?.intValue == -3)
        #expect(v["e"]?.stringValue == "é😀")
        #expect(try JSON.parse(v.description) == v)
    }

    @Test func escapesAndSurrogates() throws {
        #expect(try JSON.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(JSON.string("\u{1}").description == #""\u0001""#)
        #expect(throws: JSONParseError.self) { try JSON.parse(#""\ud83d""#) }
        #expect(throws: JSONParseError.self) { try JSON.parse(#""\u0000""#) }
    }

    @Test func printsEscapesExactly() throws {
        let s = "a\"b\\c\nd\re\tf\u{1F}g\u{2028}h\u{2029}i/é😀\u{E2}"
        #expect(JSON.string(s).description == #""a\"b\\c\nd\re\tf\u001fg\u2028h\u2029i/é😀â""#)
        #expect(try JSON.parse(JSON.string(s).description) == .string(s))
        #expect(JSON.object(["b": 1, "a": [.null, true, "x"]]).utf8Bytes == Array(#"{"a":[null,true,"x"],"b":1}"#.utf8))
        let long = String(repeating: "echo: ", count: 100_000) + "\u{0}"
        #expect(JSON.string(long).description == "\"" + String(repeating: "echo: ", count: 100_000) + "\\u0000\"")
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "tru", "\"abc", "{} x", "[\"\u{1}\"]", "-"])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func boundsNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
    }

    @Test func numbers() throws {
        #expect(try JSON.parse("12345678901") == .int(12345678901))
        #expect(try JSON.parse("1e3").doubleValue == 1000)
        #expect(JSON.double(2.0).description == "2")
        #expect(JSON.double(.nan).description == "null")
    }
}

@Suite struct RouterTests {
    func router() -> Router {
        let r = Router()
        r.get("/api/v1/runs/:run_id") { _ in .empty(200) }
        r.post("/api/v1/runs/:run_id/cancel") { _ in .empty(202) }
        r.get("/api/v1/runs") { _ in .empty(200) }
        r.post("/assistants/search") { _ in .empty(200) }
        r.get("/assistants/:id") { _ in .empty(200) }
        return r
    }

    @Test func pathParameters() {
        guard case .found(let route, let params) = router().match(method: "GET", path: "/api/v1/runs/abc") else {
            Issue.record("no match"); return
        }
        #expect(route.template == "/api/v1/runs/:run_id")
        #expect(params == ["run_id": "abc"])
    }

    @Test func trailingSlashAndMethods() {
        if case .found = router().match(method: "GET", path: "/api/v1/runs/") {} else { Issue.record("trailing slash") }
        guard case .methodNotAllowed(let allowed) = router().match(method: "DELETE", path: "/api/v1/runs/x") else {
            Issue.record("expected 405"); return
        }
        #expect(allowed == ["GET"])
        if case .notFound = router().match(method: "GET", path: "/nope") {} else { Issue.record("expected 404") }
    }

    @Test func literalBeatsParameter() {
        guard case .found(let route, _) = router().match(method: "POST", path: "/assistants/search") else {
            Issue.record("no match"); return
        }
        #expect(route.template == "/assistants/search")
    }
}

@Suite struct ConfigTests {
    @Test func envFile() throws {
        let v = try Config.parseEnvFile("# c\nA=1\nexport B = 'two words'\nC=\"x=y\"\n\n", name: "t")
        #expect(v == ["A": "1", "B": "two words", "C": "x=y"])
        #expect(throws: ConfigError.self) { try Config.parseEnvFile("novalue\n", name: "t") }
    }

    @Test func settingsValidation() throws {
        let s = try Settings(Config(values: ["API_PORT": "9000", "LOG_FORMAT": "json"]))
        #expect(s.apiPort == 9000 && s.logJSON && s.apiHost == "127.0.0.1" && s.metricsPort == 9464)
        #expect(throws: ConfigError.self) { try Settings(Config(values: ["API_PORT": "70000"])) }
        #expect(throws: ConfigError.self) { try Settings(Config(values: ["LOG_LEVEL": "loud"])) }
        #expect(throws: ConfigError.self) { try Settings(Config(values: ["API_HOST": "localhost:1"])) }
    }

    @Test func base64url() {
        for n in 0..<20 {
            let bytes = (0..<n).map { UInt8(($0 * 37 + 11) % 256) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        #expect(Base64URL.decode("***") == nil)
        #expect(Random.isUUID(Random.uuid()))
        #expect(!Random.isUUID("not-a-uuid"))
    }
}
