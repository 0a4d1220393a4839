import DuraGraphCore
import DuraGraphHTTP

/// A route together with its OpenAPI description: registering both at once keeps the document
/// and the router in agreement (a test checks it too).
struct Operation {
    struct Param {
        let name: String
        let schema: JSON
        let description: String
    }
    let method: String
    let path: String
    let summary: String
    let tag: String
    var body: String? = nil
    var bodyRequired = true
    var query: [Param] = []
    /// Success status and the component schema of its body (nil: no body).
    var success: (Int, String?)
    /// Other non-error outcomes.
    var also: [(Int, String?)] = []
}

final class APIBuilder {
    let router: Router
    private(set) var operations: [Operation] = []

    init(router: Router) { self.router = router }

    func add(_ op: Operation, _ handler: @escaping HTTPHandler) {
        operations.append(op)
        router.add(op.method, op.path, handler)
    }
}

extension Operation.Param {
    static let limit = Operation.Param(name: "limit", schema: ["type": "integer", "minimum": 1, "maximum": 100, "default": 50],
                                       description: "Page size.")
    static let cursor = Operation.Param(name: "cursor", schema: ["type": "string"],
                                        description: "Opaque cursor from next_cursor of the previous page.")
    static let metadata = Operation.Param(name: "metadata", schema: ["type": "string"],
                                          description: "JSON object; only items whose metadata contains it.")
}
