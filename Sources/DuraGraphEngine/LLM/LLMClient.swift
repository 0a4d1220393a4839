import DuraGraphCore

public struct LLMRequest: Sendable {
    public var provider: String
    public var model: String
    public var temperature: Double?
    public var maxTokens: Int?
    public var system: String?
    /// Native messages: {role, content, tool_calls?: [{id, name, args}], tool_call_id?}
    public var messages: [JSON]
    /// [{name, description, parameters (JSON schema)}]
    public var tools: [JSON]
}

public struct LLMReply: Sendable {
    /// {role: assistant, content, tool_calls?: [{id, name, args}]}
    public var message: JSON
    public var inputTokens: Int
    public var outputTokens: Int
}

public protocol LLMClient: Sendable {
    /// Streams tokens to `onToken`; returns the whole reply. Throws StepError on failure.
    func chat(_ req: LLMRequest, onToken: (String) -> Void, shouldStop: @escaping () -> Bool) throws -> LLMReply
}

/// Where the providers are and their keys: from configuration only (keys are never logged).
public struct LLMSettings: Sendable {
    public var openAIBaseURL: String
    public var openAIKey: String?
    public var anthropicBaseURL: String
    public var anthropicKey: String?
    public var timeout: Double
    public var maxRetries: Int

    public init(openAIBaseURL: String, openAIKey: String?, anthropicBaseURL: String, anthropicKey: String?,
                timeout: Double, maxRetries: Int) {
        self.openAIBaseURL = openAIBaseURL; self.openAIKey = openAIKey
        self.anthropicBaseURL = anthropicBaseURL; self.anthropicKey = anthropicKey
        self.timeout = timeout; self.maxRetries = maxRetries
    }
}

/// Observes LLM calls (metrics): provider, model, outcome, seconds, tokens in/out.
public typealias LLMObserver = @Sendable (_ provider: String, _ model: String, _ outcome: String, _ seconds: Double, _ tokensIn: Int, _ tokensOut: Int) -> Void

/// Chooses the provider per request and retries 429/5xx/transport errors with backoff, as long as
/// no token has been streamed yet (a retry after tokens would duplicate them).
public struct ProviderClient: LLMClient {
    let settings: LLMSettings
    let observer: LLMObserver?

    public init(settings: LLMSettings, observer: LLMObserver? = nil) {
        self.settings = settings
        self.observer = observer
    }

    public func chat(_ req: LLMRequest, onToken: (String) -> Void, shouldStop: @escaping () -> Bool) throws -> LLMReply {
        var backoff = Backoff(initial: 0.5, cap: 8)
        var attempt = 0
        let start = Clock.monotonic()
        while true {
            attempt += 1
            var streamed = false
            do {
                let reply = try withoutActuallyEscaping(onToken) { tok in
                    try once(req, onToken: { streamed = true; tok($0) }, shouldStop: shouldStop)
                }
                observer?(req.provider, req.model, "success", Clock.monotonic() - start, reply.inputTokens, reply.outputTokens)
                return reply
            } catch let e as ProviderError {
                if e.retryable && !streamed && attempt <= settings.maxRetries && !shouldStop() {
                    let wait = e.retryAfter ?? backoff.next()
                    Log.warn("LLM request failed; retrying", ["provider": .string(req.provider), "status": .int(Int64(e.status)),
                                                              "attempt": .int(Int64(attempt)), "in_s": .double(wait)])
                    Clock.sleep(seconds: min(wait, 30))
                    continue
                }
                observer?(req.provider, req.model, "error", Clock.monotonic() - start, 0, 0)
                throw StepError(e.status == 0 && e.message == "cancelled" ? "cancelled" : "llm_error", e.message)
            }
        }
    }

    func once(_ req: LLMRequest, onToken: (String) -> Void, shouldStop: @escaping () -> Bool) throws -> LLMReply {
        switch req.provider {
        case "anthropic":
            guard let key = settings.anthropicKey else { throw ProviderError(status: 0, message: "ANTHROPIC_API_KEY is not configured", retryable: false) }
            return try Anthropic.chat(req, baseURL: settings.anthropicBaseURL, key: key, timeout: settings.timeout,
                                      onToken: onToken, shouldStop: shouldStop)
        default:
            guard let key = settings.openAIKey else { throw ProviderError(status: 0, message: "OPENAI_API_KEY is not configured", retryable: false) }
            return try OpenAI.chat(req, baseURL: settings.openAIBaseURL, key: key, timeout: settings.timeout,
                                   onToken: onToken, shouldStop: shouldStop)
        }
    }
}

struct ProviderError: Error {
    let status: Int
    let message: String
    let retryable: Bool
    var retryAfter: Double? = nil

    /// From a non-2xx response: the provider's own error message when it gives one (never our key).
    static func from(_ r: HTTPClient.Response, provider: String) -> ProviderError {
        let body = try? JSON.parse(r.body)
        let msg = body?["error"]?["message"]?.stringValue ?? body?["error"]?.stringValue ?? body?["message"]?.stringValue
            ?? String(decoding: r.body.prefix(300), as: UTF8.self)
        return ProviderError(status: r.status, message: "\(provider) returned HTTP \(r.status): \(msg)",
                             retryable: r.status == 429 || r.status >= 500, retryAfter: r.headers["retry-after"].flatMap(Double.init))
    }

    static func transport(_ e: Error, provider: String) -> ProviderError {
        let d = (e as? HTTPClient.TransportError)?.description ?? String(describing: e)
        if d == "cancelled" { return ProviderError(status: 0, message: "cancelled", retryable: false) }
        return ProviderError(status: 0, message: "\(provider) request failed: \(d)", retryable: true)
    }
}
