-- Turn recording and replay (issue 9). Owned by engine::store::recording. Timestamps are unix
-- milliseconds. The SQLite twin of this file is identical.

-- The per-organization switch. No row = recording off (the default).
create table recording_settings (
    organization_id text primary key references organizations (id) on delete cascade,
    -- 0 or 1
    enabled bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- One recorded turn: every stage's input and output as JSON (engine::agent::trace::TurnTrace),
-- personal data redacted as in the stored messages. Deleted with its conversation.
create table turn_recordings (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    conversation_id text not null references conversations (id) on delete cascade,
    -- the customer's message and the agent's reply of this turn (messages.id)
    customer_message_id text not null,
    message_id text not null,
    trace text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index turn_recordings_by_conversation
    on turn_recordings (organization_id, conversation_id, created_at);
