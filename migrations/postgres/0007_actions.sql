-- Action hooks (issue 5): an organization's backend actions, the audit log of their
-- executions, and the per-conversation state of an action being prepared (slot filling,
-- confirmation) that must survive between turns. Timestamps are unix milliseconds; booleans
-- are BIGINT 0/1; JSON is TEXT. The SQLite twin of this file is identical.

-- An action definition. `bearer_token` and `signing_secret` are write-only for the API (never
-- returned) but stored as is: they are needed to call the backend.
create table actions (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    name text not null,
    description text not null,
    -- JSON Schema of the parameters (validated at registration).
    parameters text not null,
    url text not null,
    method text not null,
    bearer_token text,
    signing_secret text,
    timeout_ms bigint not null,
    -- read | write
    kind text not null,
    requires_confirmation bigint not null,
    -- Whether the backend honours the idempotency key (writes are retried only then).
    idempotent bigint not null,
    -- JSON array of {"parameter", "max"?, "min"?}: outside them the agent hands off.
    limits text not null,
    -- JSON arrays of example utterances and intent labels that trigger the action.
    examples text not null,
    intents text not null,
    response_template text,
    -- JSON array of parameter names redacted in the audit log and events.
    sensitive_fields text not null,
    enabled bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index actions_org_name on actions (organization_id, name);

-- The audit log: one row per call of a backend (or refusal by policy).
-- status: succeeded | failed | timeout | refused
create table action_executions (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    action_id text,
    action_name text not null,
    conversation_id text,
    customer_id text,
    -- JSON, sensitive fields redacted.
    parameters text not null,
    status text not null,
    http_status bigint,
    latency_ms bigint not null,
    attempts bigint not null,
    error text,
    idempotency_key text not null,
    test bigint not null,
    created_at bigint not null
);
create index action_executions_org_created on action_executions (organization_id, created_at, id);

-- The action a conversation is preparing. stage: collecting | confirming.
-- `parameters` holds what the customer gave so far (deleted once the action ran or was
-- cancelled); `asking` is the parameter the last follow-up question asked for.
create table action_pending (
    conversation_id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    action_name text not null,
    stage text not null,
    parameters text not null,
    asking text,
    idempotency_key text not null,
    created_at bigint not null,
    updated_at bigint not null
);
