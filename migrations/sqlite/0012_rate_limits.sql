-- Shared rate limiting: one token bucket per key (an organization, for now), so every replica
-- on this database charges the same bucket. `tokens` is the bucket's content after the last
-- request, `refilled_at` when it was computed (unix milliseconds), `last_allowed` whether that
-- request was let through (1) or refused (0): the upsert that updates the bucket reports it.
create table rate_limit_buckets (
    bucket_key text primary key,
    tokens double precision not null,
    refilled_at bigint not null,
    last_allowed bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
