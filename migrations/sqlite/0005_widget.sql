-- Embed widget (issue 10): one row of keys per organization. Timestamps are unix
-- milliseconds. The PostgreSQL twin of this file is identical.
--
-- `token_key` signs the short-lived visitor session tokens (HMAC-SHA256); it never leaves the
-- server and is created on first use, so every replica signs and verifies with the same key.
-- `customer_secret` is the site's widget secret: the site signs its own customer ids with it
-- (`data-customer-signature`), so it must be readable to verify, and is stored as is (like
-- webhook secrets); null until the organization creates one.
create table widget_keys (
    organization_id text primary key references organizations (id) on delete cascade,
    token_key text not null,
    customer_secret text,
    customer_secret_rotated_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
