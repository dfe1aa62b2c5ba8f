-- Failed dashboard sign-in attempts, one row per failure and subject, so that every replica on
-- this database counts the same failures (api/src/dashboard/login_limit.rs). `subject` is
-- `email:` or `ip:` followed by the SHA-256 of the lower-cased address: no address is kept in
-- clear. Rows older than the limit's window are deleted when the next failure is recorded.
create table sign_in_failures (
    id text primary key,
    subject text not null,
    failed_at bigint not null
);
create index sign_in_failures_subject on sign_in_failures (subject, failed_at);
create index sign_in_failures_failed_at on sign_in_failures (failed_at);
