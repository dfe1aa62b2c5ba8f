-- Channels (issue 8): an organization's provider accounts (Twilio, Meta, Mailgun), the channel
-- identities that map a phone number / e-mail address / Instagram id to a customer, the
-- threads that tie a conversation to a channel and a remote party, inbound deduplication and
-- the durable outbound queue. Provider-neutral: every provider fits these tables; what is
-- specific to one lives in the JSON of `settings` (public) or `secrets` (encrypted).
-- Timestamps are unix milliseconds; booleans are BIGINT 0/1; JSON is TEXT.
-- The SQLite twin of this file is identical.

-- One provider account of an organization. `address` is the organization's side (its phone
-- number, WhatsApp number, Instagram/page id, inbound e-mail address). `secrets` holds the
-- credentials as JSON encrypted with the server's channel key (never returned by the API).
create table channels (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    provider text not null,
    name text not null,
    address text not null,
    settings text not null default '{}',
    secrets text not null,
    enabled bigint not null default 1,
    created_at bigint not null,
    updated_at bigint not null
);
create index channels_org on channels (organization_id, created_at);

-- kind: phone | email | instagram; value normalized (E.164 phone, lowercase e-mail).
create table channel_identities (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    customer_id text not null references customers (id) on delete cascade,
    kind text not null,
    value text not null,
    created_at bigint not null,
    updated_at bigint not null,
    unique (organization_id, kind, value)
);
create index channel_identities_customer on channel_identities (customer_id);

-- A conversation carried on a channel: `thread_key` identifies it for the provider (the
-- customer's number for SMS, the call sid for voice, the first Message-Id for e-mail);
-- `remote_address` is where replies go; `thread_state` is provider JSON (e-mail references).
create table channel_threads (
    conversation_id text primary key references conversations (id) on delete cascade,
    organization_id text not null references organizations (id) on delete cascade,
    channel_id text not null references channels (id) on delete cascade,
    thread_key text not null,
    remote_address text not null,
    thread_state text not null default '{}',
    created_at bigint not null,
    updated_at bigint not null
);
create index channel_threads_key on channel_threads (channel_id, thread_key, created_at);

-- Every inbound delivery, by the provider's message id: a retried delivery is recognised and
-- answered with the stored `response` instead of running the turn again.
create table channel_inbound (
    channel_id text not null references channels (id) on delete cascade,
    provider_message_id text not null,
    organization_id text not null references organizations (id) on delete cascade,
    conversation_id text,
    response text,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (channel_id, provider_message_id)
);

-- The outbound queue. status: pending | sending (claimed until locked_until) | failed (retry at
-- next_attempt_at) | sent | dead (retries exhausted or a permanent provider error).
-- `message_id` is the stored message this sends (unique: a message goes out once).
create table channel_outbox (
    id text primary key,
    organization_id text not null references organizations (id) on delete cascade,
    channel_id text not null references channels (id) on delete cascade,
    conversation_id text,
    message_id text unique,
    payload text not null,
    status text not null,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint,
    lock_token text,
    provider_message_id text,
    last_status_code bigint,
    last_error_code text,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index channel_outbox_due on channel_outbox (status, next_attempt_at);
create index channel_outbox_conversation on channel_outbox (conversation_id, created_at);
