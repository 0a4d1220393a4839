import DuraGraphCore
import DuraGraphStorage
import Foundation
import Synchronization
import Testing

/// Real PostgreSQL: scripts/test.sh starts a throwaway cluster and exports its location.
let testURL = ProcessInfo.processInfo.environment["DURAGRAPH_TEST_PG_URL"]

func pgControl(_ action: String) throws {
    // posix_spawn + waitpid: Foundation's Process waits forever here once pg_ctl has left a
    // daemon behind.
    let env = ProcessInfo.processInfo.environment
    let argv = [env["DURAGRAPH_TEST_PG_CTL"]!, action, env["DURAGRAPH_TEST_PG_DIR"]!, env["DURAGRAPH_TEST_PG_PORT"]!]
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    var pid: pid_t = 0
    #expect(posix_spawn(&pid, argv[0], nil, nil, &cargs, environ) == 0)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    #expect(status == 0)
}

@Suite(.serialized, .enabled(if: testURL != nil, "set DURAGRAPH_TEST_PG_URL (scripts/test.sh does)"))
struct StorageTests {
    let url = testURL ?? ""

    @Test func parameterizedStatements() throws {
        let c = try PGConnection(url: url, applicationName: "test")
        let r = try c.query("SELECT $1::int + 1 AS n, $2::text AS s, $3::text IS NULL AS isnull", ["41", "it's; DROP", nil])
        #expect(r.first?.int("n") == 42)
        #expect(r.first?["s"] == "it's; DROP")
        #expect(r.first?.bool("isnull") == true)
        #expect(throws: PGError.self) { try c.query("SELECT nonsense FROM nowhere") }
        // The connection stays usable after an error.
        #expect(try c.query("SELECT 1 AS one").first?.int("one") == 1)
    }

    @Test func transactionsCommitAndRollBack() throws {
        let c = try PGConnection(url: url, applicationName: "test")
        try c.execute("CREATE TEMP TABLE t (v int)")
        try c.transaction { c in try c.query("INSERT INTO t VALUES ($1)", ["1"]) }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try c.transaction { c in
                try c.query("INSERT INTO t VALUES ($1)", ["2"])
                throw Boom()
            }
        }
        #expect(try c.query("SELECT count(*) AS n FROM t").first?.int("n") == 1)
    }

    @Test func pipelineIsOneTransactionWithResultsInOrder() throws {
        let c = try PGConnection(url: url, applicationName: "test")
        try c.execute("CREATE TEMP TABLE p (v int PRIMARY KEY)")
        let r = try c.pipeline([("INSERT INTO p VALUES ($1)", ["1"]), ("INSERT INTO p VALUES ($1) RETURNING v * 10 AS x", ["2"]),
                                ("SELECT count(*) AS n FROM p WHERE v <= $1", ["9"])])
        #expect(r.count == 3)
        #expect(r[1].first?.int("x") == 20)
        #expect(r[2].first?.int("n") == 2)   // a later statement sees the earlier ones' rows
        // A failure part-way rolls back what ran before it and skips the rest.
        do {
            _ = try c.pipeline([("INSERT INTO p VALUES ($1)", ["3"]), ("INSERT INTO p VALUES ($1)", ["1"]),
                                ("INSERT INTO p VALUES ($1)", ["4"])])
            Issue.record("expected a unique violation")
        } catch {
            #expect(error.sqlState == PGError.uniqueViolation)
        }
        #expect(try c.query("SELECT array_agg(v ORDER BY v)::text AS vs FROM p").first?["vs"] == "{1,2}")
        // Prepared once, reused: the same statements again, then plain queries on the connection.
        _ = try c.pipeline([("INSERT INTO p VALUES ($1)", ["5"]), ("SELECT count(*) AS n FROM p WHERE v <= $1", ["9"])])
        #expect(try c.query("SELECT count(*) AS n FROM p WHERE v <= $1", ["9"]).first?.int("n") == 3)
    }

    @Test func uniqueViolationCarriesSQLState() throws {
        let c = try PGConnection(url: url, applicationName: "test")
        try c.execute("CREATE TEMP TABLE u (k int PRIMARY KEY)")
        try c.query("INSERT INTO u VALUES (1)")
        do {
            try c.query("INSERT INTO u VALUES (1)")
            Issue.record("expected a unique violation")
        } catch {
            #expect(error.sqlState == PGError.uniqueViolation)
            #expect(error.kind == .query)
        }
    }

    @Test func statementTimeoutCancels() throws {
        let c = try PGConnection(url: url, applicationName: "test")
        let start = Clock.monotonic()
        do {
            try c.query("SELECT pg_sleep(5)", timeout: 0.3)
            Issue.record("expected a timeout")
        } catch {
            #expect(error.kind == .timeout)
        }
        #expect(Clock.monotonic() - start < 3)
        #expect(try c.query("SELECT 2 AS two").first?.int("two") == 2)
    }

    @Test func poolReusesAndLimits() throws {
        let pool = PGPool(url: url, size: 2, applicationName: "test")
        let a = try pool.query("SELECT pg_backend_pid() AS p").first?.int("p")
        let b = try pool.query("SELECT pg_backend_pid() AS p").first?.int("p")
        #expect(a == b)
        #expect(pool.stats.idle == 1 && pool.stats.inUse == 0)
    }

    @Test func poolAndListenerSurviveServerRestart() throws {
        let pool = PGPool(url: url, size: 2, applicationName: "test")
        try pool.query("SELECT 1")
        let got = Mutex<[String]>([])
        let gaps = Atomic<Int>(0)
        let listener = PGListener(url: url, channels: ["dg_test_channel"],
                                  onNotify: { _, payload in got.withLock { $0.append(payload) } },
                                  onGap: { gaps.add(1, ordering: .relaxed) })
        listener.start()
        defer { listener.stop() }
        #expect(listener.waitConnected(seconds: 10))
        try pool.query("SELECT pg_notify($1, $2)", ["dg_test_channel", "before"])
        try waitUntil(5) { got.withLock { $0.contains("before") } }

        try pgControl("restart")

        // The pool reconnects on its own (with backoff) once the server is back.
        try waitUntil(20) { (try? pool.query("SELECT 1")) != nil }
        // The listener reconnects, LISTENs again, and reports a possible gap.
        try waitUntil(20) { listener.reconnectCount >= 1 && gaps.load(ordering: .relaxed) >= 2 }
        try waitUntil(10) {
            _ = try? pool.query("SELECT pg_notify($1, $2)", ["dg_test_channel", "after"])
            return got.withLock { $0.contains("after") }
        }
    }

    @Test func migrationsAreIdempotent() throws {
        let admin = try PGConnection(url: url, applicationName: "test")
        let db = "mig_\(Random.uuid().prefix(8))"
        try admin.execute("CREATE DATABASE \(db)")
        let dbURL = url.replacingOccurrences(of: "dbname=postgres", with: "dbname=\(db)")
        let first = try Migrator.migrate(url: dbURL)
        #expect(first == Schema.migrations.map(\.version))
        #expect(try Migrator.migrate(url: dbURL).isEmpty)
        let c = try PGConnection(url: dbURL, applicationName: "test")
        #expect(try Migrator.currentVersion(c) == Schema.migrations.last!.version)
    }
}

struct Timeout: Error {}

func waitUntil(_ seconds: Double, _ cond: () throws -> Bool) throws {
    let deadline = Clock.monotonic() + seconds
    while Clock.monotonic() < deadline {
        if try cond() { return }
        Clock.sleep(seconds: 0.1)
    }
    throw Timeout()
}
