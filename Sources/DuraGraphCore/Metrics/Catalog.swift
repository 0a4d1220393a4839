/// Every DuraGraph metric, in one place (docs/metrics.md lists them). Each process registers the
/// families it uses; the metrics role merges what every local process publishes.
public enum Metrics {
    public static let registry = MetricsRegistry()

    // HTTP (api, metrics)
    public static let httpRequests = registry.counter("duragraph_http_requests_total", "HTTP requests by route template, method and status.")
    public static let httpDuration = registry.histogram("duragraph_http_request_duration_seconds", "HTTP request duration by route template and method.")
    public static let sseStreams = registry.gauge("duragraph_sse_streams_open", "Server-Sent Event streams open now.")

    // Runs
    public static let runsCreated = registry.counter("duragraph_runs_created_total", "Runs created.")
    public static let runsStarted = registry.counter("duragraph_runs_started_total", "Run executions started (a resumed or recovered run counts again).")
    public static let runsFinished = registry.counter("duragraph_runs_completed_total",
                                                      "Run executions ended, by status (completed, failed, cancelled, requires_action).")
    public static let runDuration = registry.histogram("duragraph_run_duration_seconds", "Execution time of a run, by final status.")
    public static let queueWait = registry.histogram("duragraph_run_queue_wait_seconds", "Time from a run's creation to its first start.")
    public static let runsByStatus = registry.gauge("duragraph_runs", "Runs by status now (from the database).")
    public static let oldestQueued = registry.gauge("duragraph_oldest_queued_run_age_seconds", "Age of the oldest queued run (0 when none).")
    public static let nodeExecutions = registry.counter("duragraph_node_executions_total", "Graph node executions by node type and outcome.")
    public static let nodeDuration = registry.histogram("duragraph_node_duration_seconds", "Graph node execution time by node type.")
    public static let leasesHeld = registry.gauge("duragraph_scheduler_leases_held", "Runs this scheduler executes now.")
    public static let runsRecovered = registry.counter("duragraph_scheduler_runs_recovered_total",
                                                       "Runs taken back from a scheduler whose lease expired, by result (requeued, failed).")

    // LLM
    public static let llmRequests = registry.counter("duragraph_llm_requests_total", "LLM requests by provider, model and outcome.")
    public static let llmTokens = registry.counter("duragraph_llm_tokens_total", "LLM tokens by provider, model and direction (input, output).")
    public static let llmDuration = registry.histogram("duragraph_llm_request_duration_seconds", "LLM request latency by provider and model.")

    // Webhooks
    public static let webhookAttempts = registry.counter("duragraph_webhook_attempts_total",
                                                         "Webhook delivery attempts by outcome (success, retry, failure).")
    public static let webhookDeliveries = registry.counter("duragraph_webhook_deliveries_total",
                                                           "Webhook deliveries finished by outcome (succeeded, failed).")
    public static let webhookLatency = registry.histogram("duragraph_webhook_delivery_latency_seconds",
                                                          "Time from an event's creation to its successful delivery.")
    public static let webhookBacklog = registry.gauge("duragraph_webhook_backlog", "Webhook deliveries pending (from the database).")
    public static let webhookOldestDue = registry.gauge("duragraph_webhook_oldest_due_age_seconds",
                                                        "How long the oldest due delivery has waited (0 when none).")

    // Storage
    public static let listenReconnects = registry.counter("duragraph_listen_reconnects_total", "LISTEN connections re-established after a loss.")
    public static let poolConnections = registry.gauge("duragraph_db_pool_connections", "Database pool connections by state (in_use, idle).")

    // Supervisor
    public static let roleUp = registry.gauge("duragraph_role_up", "1 when the supervisor's child role (label child) is running.")
    public static let roleRestarts = registry.counter("duragraph_role_restarts_total", "Restarts of a child role (label child) by the supervisor.")

    // Process (every role)
    public static let buildInfo = registry.gauge("duragraph_build_info", "Build information; always 1.")
    public static let residentMemory = registry.gauge("duragraph_process_resident_memory_bytes", "Resident memory.")
    public static let cpuSeconds = registry.counter("duragraph_process_cpu_seconds_total", "User and system CPU time.")
    public static let openFDs = registry.gauge("duragraph_process_open_fds", "Open file descriptors.")
    public static let startTime = registry.gauge("duragraph_process_start_time_seconds", "Process start time since the Unix epoch.")
}
