-- Foundation schema: organizations, API keys, customers, conversations, messages, agent
-- configuration and the monthly usage counters behind the free-plan quota.
-- Portable on purpose: the PostgreSQL twin of this file differs only where the dialects must.
-- Timestamps are unix milliseconds (BIGINT); booleans are BIGINT 0/1; JSON is TEXT.

create table organizations (
    id text primary key,
    name text not null,
    plan text not null,
    rate_limit_per_min bigint,
    monthly_conversation_quota bigint,
    created_at bigint not null,
    updated_at bigint not null
);

create table api_keys (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    prefix text not null,
    secret_hash text not null unique,
    name text not null,
    created_at bigint not null,
    updated_at bigint not null,
    last_used_at bigint,
    revoked_at bigint,
    expires_at bigint,
    replaced_by text
);
create index api_keys_prefix on api_keys (prefix);
create index api_keys_org on api_keys (organization_id, created_at);

create table customers (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    external_id text not null,
    display_name text,
    created_at bigint not null,
    updated_at bigint not null,
    unique (organization_id, external_id)
);

create table conversations (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    customer_id text not null references customers (id) on delete cascade,
    channel text not null,
    status text not null,
    intent text,
    handoff_reason text,
    assignee text,
    message_count bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    last_message_at bigint,
    resolved_at bigint,
    resolved_by text
);
create index conversations_org_created on conversations (organization_id, created_at desc, id desc);
create index conversations_org_status on conversations (organization_id, status, created_at desc);
create index conversations_org_customer on conversations (organization_id, customer_id, created_at desc);

create table messages (
    id text primary key,
    conversation_id text not null references conversations (id) on delete cascade,
    organization_id text not null references organizations (id) on delete cascade,
    role text not null,
    text text not null,
    intent text,
    confidence double precision,
    language text,
    citations text not null default '[]',
    actions text not null default '[]',
    metadata text not null default '{}',
    created_at bigint not null,
    updated_at bigint not null
);
create index messages_conversation on messages (conversation_id, created_at, id);

create table agent_configs (
    organization_id text primary key references organizations (id) on delete cascade,
    config text not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- One row per organization and calendar month (UTC), e.g. period '2026-11'.
create table usage_counters (
    organization_id text not null references organizations (id) on delete cascade,
    period text not null,
    conversations bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (organization_id, period)
);
