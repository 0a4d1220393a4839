import DuraGraphCore
import DuraGraphRoles
import DuraGraphStorage
import Glibc

Signals.block()

let usage = """
duragraph \(duragraphVersion): a LangGraph-Platform-compatible server for durable AI workflows.

Usage: duragraph [--config PATH] <command>

Commands:
  serve               supervisor: starts api, scheduler, webhook-dispatcher and metrics
                      (and an embedded PostgreSQL when DATABASE_URL is unset)
  api                 the HTTP API role alone
  scheduler           the run scheduler role alone
  webhook-dispatcher  the webhook delivery role alone
  metrics             the Prometheus metrics role alone
  migrate             apply database migrations and exit
  apikey ...          API keys: create --name N [--scope read|write|admin], list, revoke ID

Options:
  --config PATH       environment file to read (default /etc/duragraph/duragraph.env if present)
  -h, --help          show this help
  -V, --version       print the version

Settings come from the environment and the config file; see docs/configuration.md.

"""

func fail(_ message: String, code: Int32 = 2) -> Never {
    Log.error(message)
    exit(code)
}

var args = Array(CommandLine.arguments.dropFirst())
var configPath: String?
var command: String?
var commandArgs: [String] = []
while !args.isEmpty {
    let a = args.removeFirst()
    if command == "apikey" { commandArgs.append(a); continue }   // the subcommand parses the rest
    switch a {
    case "-h", "--help", "help":
        _ = usage.withCString { write(1, $0, strlen($0)) }
        exit(0)
    case "-V", "--version", "version":
        let v = "duragraph \(duragraphVersion)\n"
        _ = v.withCString { write(1, $0, strlen($0)) }
        exit(0)
    case "--config":
        guard !args.isEmpty else { fail("--config needs a path") }
        configPath = args.removeFirst()
    default:
        if a.hasPrefix("--config=") { configPath = String(a.dropFirst(9)); continue }
        guard command == nil, !a.hasPrefix("-") else { fail("unexpected argument \(a); see duragraph --help") }
        command = a
    }
}

let settings: Settings
let config: Config
do {
    config = try Config.load(path: configPath)
    settings = try Settings(config)
} catch {
    fail("configuration error: \(error.description)")
}
Log.configure(level: settings.logLevel, json: settings.logJSON, role: command ?? "duragraph")

/// A role ends with worker threads still parked in libpq, libcurl or OpenSSL calls; exit()'s
/// atexit handlers (OpenSSL's cleanup among them) would free state under them. Everything that
/// matters is in PostgreSQL by now, so flush the log and leave without running them.
func quit(_ code: Int32) -> Never {
    fflush(nil)
    _exit(code)
}

switch command {
case "serve":
    quit(Supervisor(settings: settings, configFile: config.file).run())
case "api":
    quit(RoleRunner.run(APIRole(), settings: settings))
case "scheduler":
    quit(RoleRunner.run(SchedulerRole(), settings: settings))
case "webhook-dispatcher":
    quit(RoleRunner.run(DispatcherRole(), settings: settings))
case "metrics":
    quit(RoleRunner.run(MetricsRole(), settings: settings))
case "apikey":
    exit(APIKeyCommand.run(commandArgs, settings: settings))
case "migrate":
    guard let url = settings.databaseURL else { fail("migrate needs DATABASE_URL") }
    do {
        let applied = try Migrator.migrate(url: url)
        Log.info("migrations complete", ["applied": .array(applied.map { .int(Int64($0)) })])
        exit(0)
    } catch {
        fail("migration failed: \(error)", code: 1)
    }
case nil:
    _ = usage.withCString { write(2, $0, strlen($0)) }
    exit(2)
default:
    fail("unknown command \(command!); see duragraph --help")
}
