import CMicroHTTPD
import CShims
import DuraGraphCore
import Glibc

/// libmicrohttpd in epoll mode with a thread pool. The server owns only HTTP mechanics (bodies,
/// limits, headers); `handle` does everything else.
public final class HTTPServer: @unchecked Sendable {   // immutable after start; MHD threads read it
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var threads: Int
        public var connectionLimit: Int
        public var timeoutSeconds: Int
        public var maxBodyBytes: Int
        /// An already bound, listening socket to adopt (socket activation); -1: bind host:port.
        public var listenFD: Int32
        public init(host: String, port: Int, threads: Int = 8, connectionLimit: Int = 8192,
                    timeoutSeconds: Int = 60, maxBodyBytes: Int = 10 * 1024 * 1024, listenFD: Int32 = -1) {
            self.host = host; self.port = port; self.threads = threads; self.listenFD = listenFD
            self.connectionLimit = connectionLimit; self.timeoutSeconds = timeoutSeconds; self.maxBodyBytes = maxBodyBytes
        }
    }

    public let options: Options
    let handle: @Sendable (HTTPRequest) -> HTTPResponse
    private var daemon: OpaquePointer?
    public private(set) var port: Int = 0
    /// The address of an adopted socket (nil when bound from host:port).
    public private(set) var boundHost: String?

    public init(options: Options, handle: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.options = options
        self.handle = handle
    }

    public func start() throws(ConfigError) {
        let flags = MHD_USE_EPOLL_INTERNAL_THREAD.rawValue | MHD_USE_TURBO.rawValue
            | MHD_USE_ERROR_LOG.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
        let ctx = Unmanaged.passUnretained(self).toOpaque()   // self outlives the daemon (stop in deinit)
        daemon = dg_mhd_start(flags, options.host, UInt16(options.port), accessHandler, ctx, requestCompleted, ctx,
                              UInt32(options.threads), UInt32(options.connectionLimit),
                              UInt32(options.timeoutSeconds), options.listenFD)
        guard let d = daemon else {
            if options.listenFD >= 0 {
                throw ConfigError("cannot serve on the passed socket (fd \(options.listenFD)): \(String(cString: strerror(errno)))")
            }
            throw ConfigError("cannot listen on \(options.host):\(options.port): \(String(cString: strerror(errno)))")
        }
        if options.listenFD >= 0, let (host, p) = SocketActivation.localAddress(options.listenFD) {
            boundHost = host
            port = p
        } else {
            port = Int(bound_port(d))
        }
    }

    /// Stops accepting new connections, then closes everything.
    public func stop() {
        if let d = daemon {
            _ = MHD_quiesce_daemon(d)
            MHD_stop_daemon(d)
            daemon = nil
        }
    }
    deinit { stop() }

    public var connectionCount: Int { daemon.map { Int(mhd_num_connections($0)) } ?? 0 }

    private func bound_port(_ d: OpaquePointer) -> UInt16 { mhd_bound_port(d) }
}

/// Per-request state, in *con_cls until the request-completed callback frees it.
private final class RequestState {
    var body: [UInt8] = []
    var tooLarge = false
}

private let accessHandler: MHD_AccessHandlerCallback = { cls, conn, url, method, _, uploadData, uploadSize, conCls in
    let server = Unmanaged<HTTPServer>.fromOpaque(cls!).takeUnretainedValue()
    guard let existing = conCls!.pointee else {
        // First call: headers only. Refuse a declared oversized body before reading any of it.
        conCls!.pointee = Unmanaged.passRetained(RequestState()).toOpaque()
        if let cl = MHD_lookup_connection_value(conn, .HEADER_KIND, "Content-Length"),
           let n = Int(String(cString: cl)), n > server.options.maxBodyBytes {
            return respond(conn!, tooLarge(server, conn!))
        }
        return .YES
    }
    let state = Unmanaged<RequestState>.fromOpaque(existing).takeUnretainedValue()
    if uploadSize!.pointee > 0 {
        let n = uploadSize!.pointee
        if state.body.count + n > server.options.maxBodyBytes {
            state.tooLarge = true
            state.body = []
        } else if !state.tooLarge {
            uploadData!.withMemoryRebound(to: UInt8.self, capacity: n) {
                state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: n))
            }
        }
        uploadSize!.pointee = 0
        return .YES
    }
    if state.tooLarge { return respond(conn!, tooLarge(server, conn!)) }

    var headers: [String: String] = [:]
    withUnsafeMutablePointer(to: &headers) { hp in
        _ = MHD_get_connection_values(conn, .HEADER_KIND, { ctx, _, key, value in
            let h = ctx!.assumingMemoryBound(to: [String: String].self)
            if let key { h.pointee[String(cString: key).lowercased()] = value.map { String(cString: $0) } ?? "" }
            return .YES
        }, hp)
    }
    var query: [(String, String)] = []
    withUnsafeMutablePointer(to: &query) { qp in
        _ = MHD_get_connection_values(conn, .GET_ARGUMENT_KIND, { ctx, _, key, value in
            let q = ctx!.assumingMemoryBound(to: [(String, String)].self)
            if let key { q.pointee.append((String(cString: key), value.map { String(cString: $0) } ?? "")) }
            return .YES
        }, qp)
    }
    let req = HTTPRequest(method: String(cString: method!), path: String(cString: url!), query: query,
                          headers: headers, body: state.body, requestID: requestID(headers["x-request-id"]),
                          remoteAddress: remoteAddress(conn!))
    return respond(conn!, server.handle(req))
}

/// Refused before the router sees it, so it gets its request id here.
private func tooLarge(_ server: HTTPServer, _ conn: OpaquePointer) -> HTTPResponse {
    var r = HTTPError(413, "payload_too_large", "Request body exceeds \(server.options.maxBodyBytes) bytes",
                      details: ["limit_bytes": .int(Int64(server.options.maxBodyBytes))]).response
    let given = MHD_lookup_connection_value(conn, .HEADER_KIND, "X-Request-ID").map { String(cString: $0) }
    r.headers.append(("X-Request-ID", requestID(given)))
    Log.info("http", ["status": 413, "request_id": .string(r.headers.last!.1), "route": "unmatched"])
    return r
}

/// Echo a sane client-supplied X-Request-ID, else generate one.
private func requestID(_ given: String?) -> String {
    if let g = given, !g.isEmpty, g.utf8.count <= 128,
       g.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) {
        return g
    }
    return Random.uuid()
}

private func remoteAddress(_ conn: OpaquePointer) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    guard dg_client_address(conn, &buf, 64) == 0 else { return "" }
    return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func respond(_ conn: OpaquePointer, _ r: HTTPResponse) -> MHD_Result {
    let resp: OpaquePointer?
    if let source = r.stream {
        let s = StreamConnection(conn: conn, source: source)
        resp = MHD_create_response_from_callback(UInt64.max /* MHD_SIZE_UNKNOWN */, 16 * 1024, streamReader,
                                                 Unmanaged.passRetained(s).toOpaque(), streamFree)
        s.begin()
    } else {
        resp = r.body.withUnsafeBytes {
            MHD_create_response_from_buffer($0.count, UnsafeMutableRawPointer(mutating: $0.baseAddress), .RESPMEM_MUST_COPY)
        }
    }
    guard let resp else {
        r.stream?.finish()   // a source may hold resources from before start (a hub subscription)
        return .NO
    }
    for (k, v) in r.headers { _ = MHD_add_response_header(resp, k, v) }
    let ret = MHD_queue_response(conn, UInt32(r.status), resp)
    MHD_destroy_response(resp)
    return ret
}

private let requestCompleted: MHD_RequestCompletedCallback = { _, _, conCls, _ in
    if let p = conCls?.pointee {
        Unmanaged<RequestState>.fromOpaque(p).release()
        conCls!.pointee = nil
    }
}

// MARK: - streamed bodies (SSE)

/// Couples a StreamSource to one MHD connection with suspend/resume: the reader suspends the
/// connection when the source has nothing; `wake` resumes it. One lock orders the two, so a wake
/// can never slip between "nothing to read" and the suspend.
final class StreamConnection: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let conn: OpaquePointer
    let source: StreamSource
    private var suspended = false
    private var woken = false
    private var done = false
    private var pending: [UInt8] = []
    private var offset = 0

    init(conn: OpaquePointer, source: StreamSource) {
        self.conn = conn
        self.source = source
        pthread_mutex_init(lock, nil)
    }
    deinit { pthread_mutex_destroy(lock); lock.deallocate() }

    func begin() {
        source.start(wake: { [weak self] in self?.wake() })
    }

    func wake() {
        pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }
        if done { return }
        if suspended {
            suspended = false
            MHD_resume_connection(conn)
        } else {
            woken = true
        }
    }

    /// MHD_ContentReaderCallback: bytes copied, 0 after suspending, or -1 at the end.
    func read(into buf: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }
        while offset >= pending.count {
            woken = false
            guard let next = source.read(max: max) else { return -1 }   // MHD_CONTENT_READER_END_OF_STREAM
            if next.isEmpty {
                if woken { continue }
                suspended = true
                MHD_suspend_connection(conn)
                return 0
            }
            pending = next
            offset = 0
        }
        let n = min(max, pending.count - offset)
        pending.withUnsafeBytes { src in UnsafeMutableRawPointer(buf).copyMemory(from: src.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }

    func close() {
        pthread_mutex_lock(lock)
        done = true
        pthread_mutex_unlock(lock)
        source.finish()
    }
}

private let streamReader: MHD_ContentReaderCallback = { cls, _, buf, max in
    Unmanaged<StreamConnection>.fromOpaque(cls!).takeUnretainedValue().read(into: buf!, max: max)
}

private let streamFree: MHD_ContentReaderFreeCallback = { cls in
    Unmanaged<StreamConnection>.fromOpaque(cls!).takeRetainedValue().close()
}
