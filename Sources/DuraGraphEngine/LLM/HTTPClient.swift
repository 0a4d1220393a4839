import CCurl
import DuraGraphCore
import Glibc

/// A streaming POST over libcurl: body chunks go to `onData` as they arrive; `shouldStop` aborts
/// the transfer (cancellation). One easy handle per call; LLM calls are long, handle reuse buys
/// nothing here.
enum HTTPClient {
    struct Response {
        var status: Int
        var headers: [String: String]
        /// The body when it was not consumed by the stream parser (errors).
        var body: [UInt8]
    }

    struct TransportError: Error, CustomStringConvertible {
        let description: String
    }

    final class Transfer {
        let onData: ([UInt8]) -> Void
        let shouldStop: () -> Bool
        var status = 0
        var headers: [String: String] = [:]
        var errorBody: [UInt8] = []
        init(onData: @escaping ([UInt8]) -> Void, shouldStop: @escaping () -> Bool) {
            self.onData = onData
            self.shouldStop = shouldStop
        }
    }

    static let initialized: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    static func post(url: String, headers: [String], body: String, timeout: Double,
                     onData: @escaping ([UInt8]) -> Void, shouldStop: @escaping () -> Bool) throws -> Response {
        _ = initialized
        guard let h = curl_easy_init() else { throw TransportError(description: "curl_easy_init failed") }
        defer { curl_easy_cleanup(h) }
        var list: UnsafeMutablePointer<curl_slist>?
        for hd in headers { list = curl_slist_append(list, hd) }
        defer { curl_slist_free_all(list) }
        let transfer = Transfer(onData: onData, shouldStop: shouldStop)
        let ctx = Unmanaged.passUnretained(transfer).toOpaque()
        let bytes = Array(body.utf8)
        return try bytes.withUnsafeBufferPointer { buf -> Response in
            _ = curl_setopt_str(h, CURLOPT_URL, url)
            _ = curl_setopt_long(h, CURLOPT_POST, 1)
            _ = curl_setopt_ptr(h, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: buf.baseAddress))
            _ = curl_setopt_long(h, CURLOPT_POSTFIELDSIZE, bytes.count)
            _ = curl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
            _ = curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
            _ = curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
            _ = curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 10_000)
            _ = curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(timeout * 1000))
            _ = curl_setopt_str(h, CURLOPT_USERAGENT, "DuraGraph/\(duragraphVersion)")
            _ = curl_setopt_writefn(h, { ptr, size, n, ud in
                let t = Unmanaged<Transfer>.fromOpaque(ud!).takeUnretainedValue()
                let count = size * n
                let chunk = Array(UnsafeRawBufferPointer(start: ptr, count: count))
                if t.status == 0 { t.status = -1 }
                if t.status >= 400 || t.status < 0 { t.errorBody.append(contentsOf: chunk.prefix(max(0, 65536 - t.errorBody.count))) }
                else { t.onData(chunk) }
                return count
            })
            _ = curl_setopt_ptr(h, CURLOPT_WRITEDATA, ctx)
            _ = curl_setopt_headerfn(h, { ptr, size, n, ud in
                let t = Unmanaged<Transfer>.fromOpaque(ud!).takeUnretainedValue()
                let count = size * n
                let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: count), as: UTF8.self)
                if line.hasPrefix("HTTP/") {
                    let parts = line.split(separator: " ")
                    if parts.count > 1, let s = Int(parts[1]) { t.status = s; t.headers = [:] }
                } else if let colon = line.firstIndex(of: ":") {
                    t.headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...]).trimmingSpaces()
                }
                return count
            })
            _ = curl_setopt_ptr(h, CURLOPT_HEADERDATA, ctx)
            _ = curl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
            _ = curl_setopt_xferinfofn(h, { ud, _, _, _, _ in
                let t = Unmanaged<Transfer>.fromOpaque(ud!).takeUnretainedValue()
                return t.shouldStop() ? 1 : 0
            })
            _ = curl_setopt_ptr(h, CURLOPT_XFERINFODATA, ctx)
            let rc = curl_easy_perform(h)
            if rc == CURLE_ABORTED_BY_CALLBACK { throw TransportError(description: "cancelled") }
            if rc != CURLE_OK {
                throw TransportError(description: String(cString: curl_easy_strerror(rc)))
            }
            var code = 0
            _ = curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &code)
            return Response(status: code, headers: transfer.headers, body: transfer.errorBody)
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// Splits a byte stream into Server-Sent Events (event name + data).
struct SSEParser {
    private var buffer: [UInt8] = []
    private var event = ""
    private var data: [String] = []

    mutating func feed(_ chunk: [UInt8], _ emit: (String, String) -> Void) {
        buffer.append(contentsOf: chunk)
        while let nl = buffer.firstIndex(of: 0x0A) {
            var line = buffer[..<nl]
            if line.last == 0x0D { line = line.dropLast() }
            let text = String(decoding: line, as: UTF8.self)
            buffer.removeSubrange(...nl)
            if text.isEmpty {
                if !data.isEmpty || !event.isEmpty { emit(event, data.joined(separator: "\n")) }
                event = ""; data = []
            } else if text.hasPrefix(":") {
                continue
            } else if text.hasPrefix("event:") {
                event = String(text.dropFirst(6)).trimmingSpaces()
            } else if text.hasPrefix("data:") {
                var d = String(text.dropFirst(5))
                if d.hasPrefix(" ") { d.removeFirst() }
                data.append(d)
            }
        }
    }
}
