-- Webhooks (issue 6): subscriptions, the durable event outbox, one delivery row per
-- (event, endpoint) and a log of every attempt. Timestamps are unix milliseconds; booleans are
-- BIGINT 0/1; JSON is TEXT. The SQLite twin of this file is identical.

-- An organization's endpoint. `secret` signs deliveries (it must be readable to compute the
-- HMAC, so it is stored as is); during a rotation's grace period `previous_secret` signs too.
create table webhooks (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    url text not null,
    description text not null default '',
    -- JSON array of event types, or ["*"] for all.
    events text not null,
    enabled bigint not null default 1,
    secret text not null,
    previous_secret text,
    previous_secret_expires_at bigint,
    -- Why the platform disabled the endpoint (410 Gone, failing too long); null otherwise.
    disabled_reason text,
    -- Start of the current run of failed attempts; null after a success.
    failing_since bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhooks_org on webhooks (organization_id, created_at);

-- The outbox: written in the same transaction as the change that caused the event.
-- `payload` is the exact body every delivery of the event sends.
create table events (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    event_type text not null,
    payload text not null,
    conversation_id text,
    created_at bigint not null
);
create index events_org_created on events (organization_id, created_at, id);

-- status: pending (not tried yet) | delivering (claimed by a dispatcher until locked_until)
--       | failed (tried, retry at next_attempt_at) | succeeded | dead (retries exhausted)
create table webhook_deliveries (
    id text primary key,
    event_id text not null references events (id) on delete cascade,
    webhook_id text not null references webhooks (id) on delete cascade,
    organization_id text not null references organizations (id) on delete cascade,
    -- Copied from the event: deliveries of one conversation to one endpoint go out in order.
    conversation_id text,
    status text not null,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint,
    lock_token text,
    last_status_code bigint,
    last_error text,
    last_latency_ms bigint,
    response_excerpt text,
    created_at bigint not null,
    updated_at bigint not null,
    unique (event_id, webhook_id)
);
create index webhook_deliveries_due on webhook_deliveries (status, next_attempt_at);
create index webhook_deliveries_conversation on webhook_deliveries (webhook_id, conversation_id, created_at);

-- One row per HTTP attempt: the delivery log shown to the organization.
create table webhook_attempts (
    id text primary key,
    delivery_id text not null references webhook_deliveries (id) on delete cascade,
    webhook_id text not null references webhooks (id) on delete cascade,
    event_id text not null references events (id) on delete cascade,
    organization_id text not null references organizations (id) on delete cascade,
    attempt bigint not null,
    status_code bigint,
    error text,
    latency_ms bigint not null,
    -- The first 512 bytes of the response body.
    response_excerpt text,
    succeeded bigint not null,
    -- When the next retry is due after this attempt; null when none will follow.
    next_attempt_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhook_attempts_webhook on webhook_attempts (webhook_id, created_at, id);
