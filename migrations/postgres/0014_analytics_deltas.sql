-- Analytics rollup, second step (issue 2, performance): on PostgreSQL the triggers of 0013
-- upserted one row per (organization, day, channel, intent), so every turn of an organization
-- on the same day queued behind the row lock of the turn before it until that one committed,
-- and a busy organization's turns were serialised on one row. The triggers now append each
-- change as a signed delta row to `analytics_daily_delta` (an insert never waits for another),
-- and `engine::store::Store::fold_analytics_deltas` (run every few seconds by the server) moves
-- the deltas into `analytics_daily` in one statement. Readers sum both through the view
-- `analytics_daily_all`, so a summary is exact at every moment, folded or not.
--
-- The SQLite twin keeps 0013's direct triggers (SQLite has a single writer, so there is no
-- row to wait on) and creates the same table and view, so both backends read with one query.

create table analytics_daily_delta (
    organization_id text not null references organizations (id) on delete cascade,
    -- Days since the epoch of the conversations' start: created_at / 86400000 (UTC).
    day bigint not null,
    channel text not null,
    has_intent bigint not null,
    intent text not null,
    conversations bigint not null,
    messages bigint not null,
    resolved bigint not null,
    ai_resolved bigint not null,
    human_resolved bigint not null,
    handed_off bigint not null,
    reopened bigint not null,
    csat_count bigint not null,
    csat_sum bigint not null,
    csat_ai_count bigint not null,
    csat_ai_sum bigint not null,
    csat_human_count bigint not null,
    csat_human_sum bigint not null,
    with_first_response bigint not null,
    with_resolution bigint not null,
    with_human_first_response bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- What readers query: the folded rows plus the deltas not folded yet (sums stay exact).
create view analytics_daily_all as
    select * from analytics_daily
    union all
    select * from analytics_daily_delta;

-- Appends a conversation's contribution times `factor`: +1 puts it in, -1 takes it out.
create function analytics_daily_append(r conversations, factor bigint) returns void language plpgsql as $$
begin
    insert into analytics_daily_delta values (
        r.organization_id,
        r.created_at / 86400000,
        r.channel,
        case when r.intent is null then 0 else 1 end,
        coalesce(r.intent, ''),
        factor * (1),
        factor * (r.message_count),
        factor * (case when r.status in ('resolved', 'closed') then 1 else 0 end),
        factor * (case when r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then 1 else 0 end),
        factor * (case when r.status in ('resolved', 'closed') and r.resolved_by = 'human' then 1 else 0 end),
        factor * (case when r.handoff_count > 0 then 1 else 0 end),
        factor * (case when r.reopen_count > 0 then 1 else 0 end),
        factor * (case when r.csat_rating is not null then 1 else 0 end),
        factor * (coalesce(r.csat_rating, 0)),
        factor * (case when r.csat_rating is not null and r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then 1 else 0 end),
        factor * (case when r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then coalesce(r.csat_rating, 0) else 0 end),
        factor * (case when r.csat_rating is not null and r.status in ('resolved', 'closed') and r.resolved_by = 'human' then 1 else 0 end),
        factor * (case when r.status in ('resolved', 'closed') and r.resolved_by = 'human' then coalesce(r.csat_rating, 0) else 0 end),
        factor * (case when r.first_response_at is not null then 1 else 0 end),
        factor * (case when r.status in ('resolved', 'closed') and r.resolved_at is not null then 1 else 0 end),
        factor * (case when r.human_replied_at is not null and r.handoff_at is not null and r.human_replied_at >= r.handoff_at then 1 else 0 end),
        cast(extract(epoch from clock_timestamp()) * 1000 as bigint),
        cast(extract(epoch from clock_timestamp()) * 1000 as bigint)
    );
end;
$$;

-- 0013's two functions, which the trigger calls, now append (they upserted the rollup row).
create or replace function analytics_daily_add(r conversations) returns void language plpgsql as $$
begin
    perform analytics_daily_append(r, 1);
end;
$$;

create or replace function analytics_daily_remove(r conversations) returns void language plpgsql as $$
begin
    perform analytics_daily_append(r, -1);
end;
$$;
