import DuraGraphCore
import DuraGraphHTTP
import Glibc

/// Serves the dashboard's static files (plain HTML, CSS and JavaScript modules; no build step)
/// from DASHBOARD_DIR, or the first of ./dashboard, <binary>/../share/duragraph/dashboard,
/// /usr/local/share/duragraph/dashboard that exists.
struct StaticFiles {
    let root: String?

    static func locate(_ configured: String?) -> String? {
        var candidates: [String] = []
        if let c = configured { candidates.append(c) }
        candidates.append("./dashboard")
        let exe = Spawn.executablePath()
        if let slash = exe.lastIndex(of: "/") { candidates.append(String(exe[..<slash]) + "/../share/duragraph/dashboard") }
        candidates.append("/usr/local/share/duragraph/dashboard")
        return candidates.first { access($0 + "/index.html", R_OK) == 0 }
    }

    static let types = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
                        "json": "application/json", "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon"]

    func register(_ api: APIBuilder) {
        let root = self.root
        let serve: HTTPHandler = { req in
            // "/dashboard" (no slash) redirects so relative module paths resolve under /dashboard/.
            if req.path == "/dashboard" { return HTTPResponse(status: 302, headers: [("Location", "/dashboard/")]) }
            guard let root else { throw HTTPError.notFound("dashboard (install the dashboard files or set DASHBOARD_DIR)") }
            var path = req.param("path")
            if path.isEmpty { path = "index.html" }
            // Only plain names below the root: no "..", no hidden files.
            guard path.split(separator: "/").allSatisfy({ !$0.hasPrefix(".") }),
                  let data = readBytes(root + "/" + path) else { throw HTTPError.notFound("file", path) }
            let ext = path.split(separator: ".").last.map(String.init) ?? ""
            return HTTPResponse(status: 200, headers: [("Content-Type", Self.types[ext] ?? "application/octet-stream"),
                                                       ("Cache-Control", "no-cache"),
                                                       ("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")],
                                body: data)
        }
        api.add(Operation(method: "GET", path: "/dashboard", summary: "The dashboard (web UI)", tag: "meta", success: (200, nil),
                          also: [(302, nil)]), serve)
        api.add(Operation(method: "GET", path: "/dashboard/*path", summary: "The dashboard's files", tag: "meta", success: (200, nil)), serve)
    }
}

func readBytes(_ path: String) -> [UInt8]? {
    var st = stat()
    guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
    return readFileBytes(path)
}
