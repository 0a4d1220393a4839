// swift-tools-version:6.0
// Swift 6 language mode (complete concurrency checking) for every target.
import PackageDescription

let package = Package(
    name: "DuraGraph",
    products: [
        .executable(name: "duragraph", targets: ["duragraph"]),
    ],
    targets: [
        // Debian C libraries, one system-library target each (module.modulemap + shim.h).
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // What Swift cannot express: variadic C calls, fork+setuid+exec, GNU-only declarations.
        .target(name: "CShims", dependencies: ["CMicroHTTPD"]),

        // Configuration, logging, JSON, process and thread helpers shared by every layer.
        .target(name: "DuraGraphCore", dependencies: ["CShims", "COpenSSL"]),
        // libpq: connections, pool, LISTEN/NOTIFY, migrations, and all SQL (one file per table/feature).
        .target(name: "DuraGraphStorage", dependencies: ["DuraGraphCore", "CLibPQ"]),
        // Graphs as data, the state and its reducers, node kinds, LLM providers over libcurl.
        .target(name: "DuraGraphEngine", dependencies: ["DuraGraphCore", "CCurl"]),
        // Webhook delivery mechanics: Standard Webhooks signatures, the SSRF address policy, the libcurl sender.
        .target(name: "DuraGraphWebhooks", dependencies: ["DuraGraphCore", "CCurl", "COpenSSL", "CShims"]),
        // libmicrohttpd: server, router, request/response, JSON errors.
        .target(name: "DuraGraphHTTP", dependencies: ["DuraGraphCore", "CMicroHTTPD", "CShims"]),
        // The processes: supervisor, api, scheduler, webhook-dispatcher, metrics.
        .target(name: "DuraGraphRoles",
                dependencies: ["DuraGraphCore", "DuraGraphStorage", "DuraGraphHTTP", "DuraGraphEngine", "DuraGraphWebhooks", "CSystemd", "CShims"]),
        .executableTarget(name: "duragraph", dependencies: ["DuraGraphRoles", "DuraGraphCore"]),

        .testTarget(name: "DuraGraphCoreTests", dependencies: ["DuraGraphCore", "DuraGraphHTTP"]),
        .testTarget(name: "DuraGraphStorageTests", dependencies: ["DuraGraphStorage"]),
        .testTarget(name: "DuraGraphEngineTests", dependencies: ["DuraGraphEngine", "DuraGraphWebhooks"]),
    ]
)
