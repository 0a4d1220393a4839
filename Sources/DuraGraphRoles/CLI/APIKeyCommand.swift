import DuraGraphCore
import DuraGraphStorage
import Glibc

/// `duragraph apikey create --name N [--scope read|write|admin] | list | revoke ID`.
/// The key is printed once, alone on stdout (so `KEY=$(duragraph apikey create --name ci)` works);
/// everything else goes to stderr.
public enum APIKeyCommand {
    public static let usage = """
    Usage: duragraph [--config PATH] apikey <create|list|revoke>
      apikey create --name NAME [--scope read|write|admin]   prints the new key once (default scope: write)
      apikey list                                            every key (never the keys themselves)
      apikey revoke KEY_ID                                   revoke a key; requests with it get 401

    """

    public static func run(_ args: [String], settings: Settings) -> Int32 {
        guard let sub = args.first else { return fail(usage) }
        if sub == "-h" || sub == "--help" { out(usage); return 0 }
        guard let url = settings.databaseURL else { return fail("apikey needs DATABASE_URL (the database of the deployment)\n") }
        do {
            try Migrator.migrate(url: url)
            let pool = PGPool(url: url, size: 1, applicationName: "duragraph-apikey", statementTimeout: settings.dbStatementTimeout)
            let store = APIKeysSQL(pool: pool)
            let rest = Array(args.dropFirst())
            switch sub {
            case "create": return try create(rest, store)
            case "list": return try list(rest, store)
            case "revoke": return try revoke(rest, store)
            default: return fail("unknown apikey command \(sub)\n" + usage)
            }
        } catch {
            return fail("apikey \(sub) failed: \(error)\n", code: 1)
        }
    }

    static func create(_ args: [String], _ store: APIKeysSQL) throws -> Int32 {
        var name: String?
        var scope = "write"
        var a = args[...]
        while let opt = a.popFirst() {
            var value: String?
            var key = opt
            if let eq = opt.firstIndex(of: "="), opt.hasPrefix("--") { key = String(opt[..<eq]); value = String(opt[opt.index(after: eq)...]) }
            switch key {
            case "--name", "--scope":
                guard let v = value ?? a.popFirst() else { return fail("\(key) needs a value\n") }
                if key == "--name" { name = v } else { scope = v }
            default:
                return fail("unexpected argument \(opt)\n" + usage)
            }
        }
        guard let name, !name.trimmingSpaces().isEmpty, name.utf8.count <= 200 else { return fail("--name NAME is required (1-200 bytes)\n") }
        guard APIKeysSQL.scopes.contains(scope) else { return fail("--scope must be read, write or admin\n") }
        let m = APIKeyMaterial.generate()
        let k = try store.create(id: Random.uuid(), name: name, scope: scope, hash: m.hash, prefix: m.prefix)
        err("created API key \(k["key_id"]?.stringValue ?? "?") (name \(name), scope \(scope)); it is shown only now:\n")
        out(m.key + "\n")
        return 0
    }

    static func list(_ args: [String], _ store: APIKeysSQL) throws -> Int32 {
        guard args.isEmpty else { return fail("apikey list takes no arguments\n") }
        var cursor: Cursor?
        var lines = ["KEY_ID\tNAME\tSCOPE\tPREFIX\tCREATED_AT\tREVOKED_AT"]
        repeat {
            let page = try store.list(limit: 100, cursor: cursor)
            for k in page.items {
                let f = ["key_id", "name", "scope", "prefix", "created_at", "revoked_at"].map { k[$0]?.stringValue ?? "-" }
                lines.append(f.joined(separator: "\t"))
            }
            cursor = page.nextCursor.flatMap(Cursor.decode)
        } while cursor != nil
        out(lines.joined(separator: "\n") + "\n")
        return 0
    }

    static func revoke(_ args: [String], _ store: APIKeysSQL) throws -> Int32 {
        guard args.count == 1 else { return fail("usage: duragraph apikey revoke KEY_ID\n") }
        guard Random.isUUID(args[0]), try store.revoke(id: args[0].lowercased()) != nil else {
            return fail("no API key \(args[0])\n", code: 1)
        }
        err("revoked API key \(args[0].lowercased())\n")
        return 0
    }

    static func out(_ s: String) { _ = s.withCString { write(1, $0, strlen($0)) } }
    static func err(_ s: String) { _ = s.withCString { write(2, $0, strlen($0)) } }
    static func fail(_ s: String, code: Int32 = 2) -> Int32 { err(s); return code }
}
