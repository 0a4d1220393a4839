/// The schema, as an ordered list of forward-only migrations. Never edit a released migration:
/// append a new one.
public enum Schema {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String
    }

    static let bookkeeping = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    """

    public static let migrations: [Migration] = [
        Migration(version: 1, name: "assistants_threads_runs", sql: """
        -- RFC 3339 UTC with microseconds: the one timestamp format of the API (and of cursors).
        -- Row timestamps default to now() (the transaction time), so created_at = updated_at on insert.
        CREATE FUNCTION duragraph_ts(t timestamptz) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

        CREATE TABLE assistants (
            assistant_id uuid PRIMARY KEY,
            name         text NOT NULL,
            description  text,
            graph_id     text NOT NULL,
            config       jsonb NOT NULL DEFAULT '{}',
            metadata     jsonb NOT NULL DEFAULT '{}',
            version      integer NOT NULL DEFAULT 1,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX assistants_page ON assistants (created_at DESC, assistant_id DESC);
        CREATE INDEX assistants_metadata ON assistants USING gin (metadata jsonb_path_ops);

        CREATE TABLE assistant_versions (
            assistant_id uuid NOT NULL REFERENCES assistants ON DELETE CASCADE,
            version      integer NOT NULL,
            name         text NOT NULL,
            description  text,
            graph_id     text NOT NULL,
            config       jsonb NOT NULL,
            metadata     jsonb NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (assistant_id, version)
        );

        CREATE TABLE threads (
            thread_id  uuid PRIMARY KEY,
            metadata   jsonb NOT NULL DEFAULT '{}',
            status     text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'busy', 'interrupted', 'error')),
            "values"   jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX threads_page ON threads (created_at DESC, thread_id DESC);
        CREATE INDEX threads_metadata ON threads USING gin (metadata jsonb_path_ops);

        CREATE TABLE thread_messages (
            thread_id  uuid NOT NULL REFERENCES threads ON DELETE CASCADE,
            message_id text NOT NULL,
            seq        bigserial,
            role       text NOT NULL,
            content    jsonb NOT NULL,
            extra      jsonb NOT NULL DEFAULT '{}',
            run_id     uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (thread_id, message_id)
        );
        CREATE INDEX thread_messages_order ON thread_messages (thread_id, seq);

        CREATE TABLE runs (
            run_id             uuid PRIMARY KEY,
            thread_id          uuid NOT NULL REFERENCES threads ON DELETE CASCADE,
            assistant_id       uuid NOT NULL REFERENCES assistants ON DELETE CASCADE,
            status             text NOT NULL DEFAULT 'queued' CHECK (status IN
                               ('queued', 'in_progress', 'requires_action', 'completed', 'failed', 'cancelled')),
            input              jsonb,
            output             jsonb,
            error              jsonb,
            required_action    jsonb,
            tool_outputs       jsonb,
            cancel_requested   boolean NOT NULL DEFAULT false,
            -- multitask "rollback": delete the run once its scheduler has stopped it
            delete_on_cancel   boolean NOT NULL DEFAULT false,
            config             jsonb NOT NULL DEFAULT '{}',
            metadata           jsonb NOT NULL DEFAULT '{}',
            multitask_strategy text NOT NULL DEFAULT 'enqueue',
            webhook            text,
            attempt            integer NOT NULL DEFAULT 0,
            lease_owner        text,
            lease_expires_at   timestamptz,
            created_at         timestamptz NOT NULL DEFAULT now(),
            updated_at         timestamptz NOT NULL DEFAULT now(),
            started_at         timestamptz,
            ended_at           timestamptz
        );
        CREATE INDEX runs_page ON runs (created_at DESC, run_id DESC);
        CREATE INDEX runs_thread_page ON runs (thread_id, created_at DESC, run_id DESC);
        CREATE INDEX runs_queued ON runs (created_at) WHERE status = 'queued';
        CREATE INDEX runs_leased ON runs (lease_expires_at) WHERE status = 'in_progress';
        -- At most one executing run per thread, whatever the schedulers do.
        CREATE UNIQUE INDEX runs_one_in_progress_per_thread ON runs (thread_id) WHERE status = 'in_progress';

        -- The run's ordered event log (seq per run). event_id orders a thread's events across its
        -- runs (thread streams); runs of one thread execute one at a time, so it is gap-free in practice.
        CREATE TABLE run_events (
            event_id   bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            run_id     uuid NOT NULL REFERENCES runs ON DELETE CASCADE,
            thread_id  uuid NOT NULL,
            seq        bigint NOT NULL,
            type       text NOT NULL,
            data       jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, seq)
        );
        CREATE INDEX run_events_thread ON run_events (thread_id, event_id);

        -- Thread state after each step: how a crashed run continues, and the thread's history.
        CREATE TABLE checkpoints (
            checkpoint_id uuid PRIMARY KEY,
            thread_id     uuid NOT NULL REFERENCES threads ON DELETE CASCADE,
            run_id        uuid,
            parent_id     uuid,
            step          integer NOT NULL,
            next          jsonb NOT NULL DEFAULT '[]',
            "values"      jsonb NOT NULL,
            metadata      jsonb NOT NULL DEFAULT '{}',
            created_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX checkpoints_thread ON checkpoints (thread_id, created_at DESC);
        CREATE INDEX checkpoints_run ON checkpoints (run_id, created_at DESC);
        """),
        Migration(version: 2, name: "webhooks", sql: """
        CREATE TABLE webhooks (
            webhook_id    uuid PRIMARY KEY,
            url           text NOT NULL,
            events        text[] NOT NULL,
            -- [{"secret": "whsec_...", "expires_at": null | timestamp}]: the first is current; the
            -- others are previous secrets still signing during a rotation.
            secrets       jsonb NOT NULL,
            description   text,
            metadata      jsonb NOT NULL DEFAULT '{}',
            enabled       boolean NOT NULL DEFAULT true,
            disabled_reason text,
            failing_since timestamptz,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX webhooks_page ON webhooks (created_at DESC, webhook_id DESC);

        -- One row per (event, endpoint): the outbox. Written in the transaction that changed the run.
        CREATE TABLE webhook_deliveries (
            delivery_id     uuid PRIMARY KEY,
            webhook_id      uuid REFERENCES webhooks ON DELETE CASCADE,
            url             text NOT NULL,
            run_id          uuid,
            event_type      text NOT NULL,
            payload         jsonb NOT NULL,
            status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            lease_owner     text,
            lease_expires_at timestamptz,
            last_status_code integer,
            last_error      text,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            completed_at    timestamptz
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_page ON webhook_deliveries (webhook_id, created_at DESC, delivery_id DESC);

        CREATE TABLE webhook_attempts (
            delivery_id  uuid NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
            attempt      integer NOT NULL,
            started_at   timestamptz NOT NULL,
            status_code  integer,
            duration_ms  double precision NOT NULL,
            error        text,
            response_body text,
            PRIMARY KEY (delivery_id, attempt)
        );

        -- Server-wide values generated once (the signing secret of per-run webhook URLs).
        CREATE TABLE server_settings (
            key   text PRIMARY KEY,
            value text NOT NULL
        );
        """),
        Migration(version: 3, name: "langgraph", sql: """
        -- LangGraph run options (stream_mode, on_completion, ...), kept as given.
        ALTER TABLE runs ADD COLUMN kwargs jsonb NOT NULL DEFAULT '{}';

        -- The LangGraph store: JSON documents under a namespace path.
        CREATE TABLE store_items (
            namespace  text[] NOT NULL,
            key        text NOT NULL,
            value      jsonb NOT NULL,
            expires_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (namespace, key)
        );

        CREATE TABLE crons (
            cron_id     uuid PRIMARY KEY,
            assistant_id uuid NOT NULL REFERENCES assistants ON DELETE CASCADE,
            thread_id   uuid REFERENCES threads ON DELETE CASCADE,
            schedule    text NOT NULL,
            timezone    text NOT NULL DEFAULT 'UTC',
            payload     jsonb NOT NULL DEFAULT '{}',
            metadata    jsonb NOT NULL DEFAULT '{}',
            enabled     boolean NOT NULL DEFAULT true,
            end_time    timestamptz,
            on_run_completed text,
            next_run_at timestamptz NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX crons_due ON crons (next_run_at) WHERE enabled;
        -- One row per (cron, fire time): however many schedulers see a cron due, it fires once.
        CREATE TABLE cron_fires (
            cron_id uuid NOT NULL REFERENCES crons ON DELETE CASCADE,
            fire_at timestamptz NOT NULL,
            run_id  uuid,
            PRIMARY KEY (cron_id, fire_at)
        );
        """),
        Migration(version: 4, name: "api_keys_rate_limits", sql: """
        -- API keys: only the SHA-256 of the key is stored (keys are 256-bit random values, so a
        -- plain hash is enough); key_prefix is the first characters, to recognise a key in lists.
        CREATE TABLE api_keys (
            key_id     uuid PRIMARY KEY,
            name       text NOT NULL,
            scope      text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
            key_hash   text NOT NULL UNIQUE,
            key_prefix text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            revoked_at timestamptz
        );
        CREATE INDEX api_keys_page ON api_keys (created_at DESC, key_id DESC);

        -- Token buckets of the rate limiter, shared by every api process. UNLOGGED: no WAL per
        -- request; after a crash the buckets simply start full again.
        CREATE UNLOGGED TABLE rate_limit_buckets (
            bucket     text PRIMARY KEY,
            tokens     double precision NOT NULL,
            allowed    boolean NOT NULL,
            updated_at timestamptz NOT NULL
        );

        -- Tokens in a bucket after refilling at `rate` per second since `since`, capped at `burst`.
        CREATE FUNCTION duragraph_refill(tokens float8, since timestamptz, now timestamptz, rate float8, burst float8)
            RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
            RETURN least(burst, tokens + greatest(0, extract(epoch FROM now - since)::float8) * rate);
        """),
        Migration(version: 5, name: "claim_index_delayed_runs_expiring_threads", sql: """
        -- The claim asks, for each queued candidate, whether an older run of its thread is queued:
        -- without this index that probe scans the whole backlog (O(backlog) per claimed run).
        -- The planner only picks it with fresh statistics, and a backlog appears within seconds, so
        -- runs are analyzed after 200 changed rows rather than after 10% of the table.
        CREATE INDEX runs_queued_thread ON runs (thread_id, created_at, run_id) WHERE status = 'queued';
        ALTER TABLE runs SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 200);

        -- after_seconds: a queued run is not claimed before not_before.
        ALTER TABLE runs ADD COLUMN not_before timestamptz;
        CREATE INDEX runs_delayed ON runs (not_before) WHERE status = 'queued' AND not_before IS NOT NULL;
        -- A stateless LangGraph run (on_completion=delete) removes its thread once it ends; its
        -- own webhook, if any, is sent in LangGraph's shape.
        ALTER TABLE runs ADD COLUMN delete_thread boolean NOT NULL DEFAULT false;
        ALTER TABLE runs ADD COLUMN langgraph boolean NOT NULL DEFAULT false;

        -- Thread TTL (LangGraph `ttl`), and the grace after a stateless run: the scheduler deletes
        -- threads past expires_at that have no queued or running run.
        ALTER TABLE threads ADD COLUMN expires_at timestamptz;
        CREATE INDEX threads_expiring ON threads (expires_at) WHERE expires_at IS NOT NULL;
        """),
        Migration(version: 6, name: "pipeline_guard", sql: """
        -- Statements sent together in one pipelined transaction cannot branch on each other's
        -- results; a guard that fails stops the rest and rolls all of them back (a scheduler that
        -- lost a run's lease must not write its events). SQLSTATE DG001 names the guard's failure.
        CREATE FUNCTION duragraph_guard(ok boolean, what text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            IF ok IS NOT TRUE THEN
                RAISE EXCEPTION '%', what USING ERRCODE = 'DG001';
            END IF;
            RETURN true;
        END $$;
        """),
        Migration(version: 7, name: "inline_timestamp_format", sql: """
        -- to_char is STABLE, so an IMMUTABLE wrapper is never inlined: every statement that formats
        -- a timestamp re-parsed and ran it as a SQL function (~3% of the server's CPU per run).
        -- Declared STABLE, it is inlined into the calling statement's plan.
        ALTER FUNCTION duragraph_ts(timestamptz) STABLE;
        """),
        Migration(version: 8, name: "announce_deletions", sql: """
        -- Streams and waits follow a run until its terminal event; a run deleted before that (a
        -- multitask rollback, its thread deleted, pruned or expired) never sends one. Every way a
        -- run or a thread goes (cascades included) announces it on the run-events channel, so the
        -- api ends those streams instead of sending heartbeats forever.
        CREATE FUNCTION duragraph_run_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('duragraph_run_events', OLD.run_id::text || ':run-deleted');
            RETURN NULL;
        END $$;
        CREATE TRIGGER runs_announce_delete AFTER DELETE ON runs FOR EACH ROW EXECUTE FUNCTION duragraph_run_deleted();
        CREATE FUNCTION duragraph_thread_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('duragraph_run_events', OLD.thread_id::text || ':thread-deleted');
            RETURN NULL;
        END $$;
        CREATE TRIGGER threads_announce_delete AFTER DELETE ON threads FOR EACH ROW EXECUTE FUNCTION duragraph_thread_deleted();
        """),
    ]
}
