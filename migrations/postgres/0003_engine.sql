-- Engine schema (issue 4). Sections are owned by different parts of the engine; each is
-- clearly separated so they can grow independently. Timestamps are unix milliseconds.

-- ===========================================================================================
-- Memory: what the agent remembers about a customer (organization + customer record), across
-- sessions and channels. Owned by engine::memory / engine::store::memory.
-- ===========================================================================================

-- One remembered fact. Single-valued keys (name, email, phone) hold one row per customer;
-- multi-valued keys (order_number, preference, open_issue, ...) accumulate distinct values.
create table memory_facts (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    customer_id text not null references customers (id) on delete cascade,
    key text not null,
    value text not null,
    -- rule | api | model
    source text not null,
    confidence double precision not null,
    source_conversation_id text,
    channel text,
    created_at bigint not null,
    updated_at bigint not null
);
create index memory_facts_customer on memory_facts (organization_id, customer_id, key, updated_at);

-- A short extractive summary of one past conversation (its intents and open issues).
create table memory_summaries (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    customer_id text not null references customers (id) on delete cascade,
    conversation_id text not null unique,
    channel text not null,
    summary text not null,
    -- JSON array of the conversation's intent labels, most recent last
    intents text not null default '[]',
    created_at bigint not null,
    updated_at bigint not null
);
create index memory_summaries_customer on memory_summaries (organization_id, customer_id, updated_at);

-- ===========================================================================================
-- Intents: an organization's changes to the default intent set. Owned by engine::intent /
-- engine::store::intents. No rows = the shipped defaults. A row with examples adds an intent
-- or replaces a default intent's examples; a row with disabled = 1 removes a default intent.
-- ===========================================================================================

create table intents (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    label text not null,
    description text not null default '',
    -- JSON array of example utterances
    examples text not null default '[]',
    -- 0/1: 1 hides a default intent of the same label
    disabled bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    unique (organization_id, label)
);
