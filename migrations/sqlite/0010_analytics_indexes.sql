-- Analytics (issue 7, performance): the summary over 100,000 conversations must answer in
-- well under a second, so it reads one index instead of the table. The PostgreSQL twin of
-- this file is identical.

-- The conversation's current CSAT rating (1-5; null when none), copied from csat_responses
-- when a rating is stored, so the summary needs no join.
alter table conversations add column csat_rating bigint;
update conversations set csat_rating = (
    select s.rating from csat_responses s where s.conversation_id = conversations.id
) where exists (select 1 from csat_responses s where s.conversation_id = conversations.id);

-- Covering index of the summary: the period range first, then every column its aggregates
-- read, so each query is an index-only scan (no lookup of the table row per conversation).
create index conversations_org_analytics on conversations (
    organization_id, created_at, channel, status, resolved_by, intent, message_count,
    handoff_count, reopen_count, csat_rating, first_response_at, resolved_at, handoff_at,
    human_replied_at
);
