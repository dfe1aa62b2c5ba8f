-- Lifecycle (issue 7): the human handoff inbox, conversation transitions, CSAT, and the
-- columns and indexes the analytics summary reads. Timestamps are unix milliseconds; the
-- PostgreSQL twin of this file is identical.

-- When the conversation last started waiting for a human (the inbox sorts on it; null when it
-- never waited), when a human took it, and when it was closed.
alter table conversations add column handoff_at bigint;
alter table conversations add column assigned_at bigint;
alter table conversations add column closed_at bigint;
-- When the first reply (agent or human) to the customer was stored.
alter table conversations add column first_response_at bigint;
-- When a human first replied (null: no human ever wrote in this conversation).
alter table conversations add column human_replied_at bigint;
-- How many times the conversation was handed to humans, and reopened after a resolution.
alter table conversations add column handoff_count bigint not null default 0;
alter table conversations add column reopen_count bigint not null default 0;

-- Every status change: who made it, when, from which status to which, and why.
create table conversation_transitions (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    conversation_id text not null references conversations (id) on delete cascade,
    from_status text not null,
    to_status text not null,
    -- 'agent', 'system' (auto-resolve), 'customer' (a reopening message), 'api' or a
    -- human's name (the assignee / the author of a reply).
    actor text not null,
    reason text,
    created_at bigint not null,
    updated_at bigint not null
);
create index conversation_transitions_conversation
    on conversation_transitions (conversation_id, created_at, id);

-- One satisfaction rating per conversation; a second submission replaces the first.
create table csat_responses (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    conversation_id text not null unique references conversations (id) on delete cascade,
    rating bigint not null,
    comment text,
    -- How many earlier ratings this one replaced.
    replaced_count bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
create index csat_responses_org on csat_responses (organization_id, conversation_id);

-- The inbox: one organization's waiting conversations, oldest wait first.
create index conversations_org_inbox on conversations (organization_id, status, handoff_at, id);
-- The analytics summary: one organization's conversations started in a period, per channel.
create index conversations_org_channel_created on conversations (organization_id, channel, created_at);
-- Auto-resolve: idle conversations across organizations.
create index conversations_status_last_message on conversations (status, last_message_at);
