-- Analytics rollup (issue 7, performance): the additive figures of the summary per
-- organization, UTC day of conversation start, channel and intent, so a summary over whole days
-- reads a few hundred rows instead of every conversation (the service computes the partial days
-- at the period's edges, and the medians, from `conversations`).
--
-- It is kept exact by triggers on `conversations`: each insert, update or delete takes the row's
-- old contribution out and puts its new one in, inside the writing statement's transaction, so
-- every write path (turns, lifecycle changes, CSAT, the auto-resolve sweep, bulk SQL) keeps it
-- right without code of its own. The SQLite twin of this file does the same with three SQL triggers.
--
-- The figures are those of `engine::store::analytics::Tally` (definitions in docs/lifecycle.md):
-- a conversation adds 1 to `conversations`, its `message_count` to `messages`, 1 to each
-- condition it meets and its rating to the CSAT sums. `has_intent` = 0 marks conversations
-- without a detected intent (`intent` is then ''), so no intent label is reserved for "none".
-- Rows whose counts fall back to 0 stay; readers skip them.

create table analytics_daily (
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
    updated_at bigint not null,
    primary key (organization_id, day, channel, has_intent, intent)
);

-- Backfill from the conversations stored so far.
insert into analytics_daily
select c.organization_id,
    c.created_at / 86400000,
    c.channel,
    case when c.intent is null then 0 else 1 end,
    coalesce(c.intent, ''),
    count(*),
    sum(c.message_count),
    sum(case when c.status in ('resolved', 'closed') then 1 else 0 end),
    sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then 1 else 0 end),
    sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'human' then 1 else 0 end),
    sum(case when c.handoff_count > 0 then 1 else 0 end),
    sum(case when c.reopen_count > 0 then 1 else 0 end),
    sum(case when c.csat_rating is not null then 1 else 0 end),
    sum(coalesce(c.csat_rating, 0)),
    sum(case when c.csat_rating is not null and c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then 1 else 0 end),
    sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then coalesce(c.csat_rating, 0) else 0 end),
    sum(case when c.csat_rating is not null and c.status in ('resolved', 'closed') and c.resolved_by = 'human' then 1 else 0 end),
    sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'human' then coalesce(c.csat_rating, 0) else 0 end),
    sum(case when c.first_response_at is not null then 1 else 0 end),
    sum(case when c.status in ('resolved', 'closed') and c.resolved_at is not null then 1 else 0 end),
    sum(case when c.human_replied_at is not null and c.handoff_at is not null and c.human_replied_at >= c.handoff_at then 1 else 0 end),
    cast(extract(epoch from clock_timestamp()) * 1000 as bigint),
    cast(extract(epoch from clock_timestamp()) * 1000 as bigint)
from conversations c
group by c.organization_id, c.created_at / 86400000, c.channel, case when c.intent is null then 0 else 1 end, coalesce(c.intent, '');

-- Adds a conversation's contribution (creating its row when needed).
create function analytics_daily_add(r conversations) returns void language plpgsql as $$
begin
    insert into analytics_daily values (
        r.organization_id,
        r.created_at / 86400000,
        r.channel,
        case when r.intent is null then 0 else 1 end,
        coalesce(r.intent, ''),
        1,
        r.message_count,
        case when r.status in ('resolved', 'closed') then 1 else 0 end,
        case when r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then 1 else 0 end,
        case when r.status in ('resolved', 'closed') and r.resolved_by = 'human' then 1 else 0 end,
        case when r.handoff_count > 0 then 1 else 0 end,
        case when r.reopen_count > 0 then 1 else 0 end,
        case when r.csat_rating is not null then 1 else 0 end,
        coalesce(r.csat_rating, 0),
        case when r.csat_rating is not null and r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then 1 else 0 end,
        case when r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then coalesce(r.csat_rating, 0) else 0 end,
        case when r.csat_rating is not null and r.status in ('resolved', 'closed') and r.resolved_by = 'human' then 1 else 0 end,
        case when r.status in ('resolved', 'closed') and r.resolved_by = 'human' then coalesce(r.csat_rating, 0) else 0 end,
        case when r.first_response_at is not null then 1 else 0 end,
        case when r.status in ('resolved', 'closed') and r.resolved_at is not null then 1 else 0 end,
        case when r.human_replied_at is not null and r.handoff_at is not null and r.human_replied_at >= r.handoff_at then 1 else 0 end,
        cast(extract(epoch from clock_timestamp()) * 1000 as bigint),
        cast(extract(epoch from clock_timestamp()) * 1000 as bigint)
    )
    on conflict (organization_id, day, channel, has_intent, intent) do update set
        conversations = analytics_daily.conversations + excluded.conversations,
        messages = analytics_daily.messages + excluded.messages,
        resolved = analytics_daily.resolved + excluded.resolved,
        ai_resolved = analytics_daily.ai_resolved + excluded.ai_resolved,
        human_resolved = analytics_daily.human_resolved + excluded.human_resolved,
        handed_off = analytics_daily.handed_off + excluded.handed_off,
        reopened = analytics_daily.reopened + excluded.reopened,
        csat_count = analytics_daily.csat_count + excluded.csat_count,
        csat_sum = analytics_daily.csat_sum + excluded.csat_sum,
        csat_ai_count = analytics_daily.csat_ai_count + excluded.csat_ai_count,
        csat_ai_sum = analytics_daily.csat_ai_sum + excluded.csat_ai_sum,
        csat_human_count = analytics_daily.csat_human_count + excluded.csat_human_count,
        csat_human_sum = analytics_daily.csat_human_sum + excluded.csat_human_sum,
        with_first_response = analytics_daily.with_first_response + excluded.with_first_response,
        with_resolution = analytics_daily.with_resolution + excluded.with_resolution,
        with_human_first_response = analytics_daily.with_human_first_response + excluded.with_human_first_response,
        updated_at = excluded.updated_at;
end;
$$;

-- Takes a conversation's contribution out (an update only: when the organization itself is
-- deleted its rows are already gone, and nothing must be re-created).
create function analytics_daily_remove(r conversations) returns void language plpgsql as $$
begin
    update analytics_daily set
        conversations = conversations - (1),
        messages = messages - (r.message_count),
        resolved = resolved - (case when r.status in ('resolved', 'closed') then 1 else 0 end),
        ai_resolved = ai_resolved - (case when r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then 1 else 0 end),
        human_resolved = human_resolved - (case when r.status in ('resolved', 'closed') and r.resolved_by = 'human' then 1 else 0 end),
        handed_off = handed_off - (case when r.handoff_count > 0 then 1 else 0 end),
        reopened = reopened - (case when r.reopen_count > 0 then 1 else 0 end),
        csat_count = csat_count - (case when r.csat_rating is not null then 1 else 0 end),
        csat_sum = csat_sum - (coalesce(r.csat_rating, 0)),
        csat_ai_count = csat_ai_count - (case when r.csat_rating is not null and r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then 1 else 0 end),
        csat_ai_sum = csat_ai_sum - (case when r.status in ('resolved', 'closed') and r.resolved_by = 'agent' then coalesce(r.csat_rating, 0) else 0 end),
        csat_human_count = csat_human_count - (case when r.csat_rating is not null and r.status in ('resolved', 'closed') and r.resolved_by = 'human' then 1 else 0 end),
        csat_human_sum = csat_human_sum - (case when r.status in ('resolved', 'closed') and r.resolved_by = 'human' then coalesce(r.csat_rating, 0) else 0 end),
        with_first_response = with_first_response - (case when r.first_response_at is not null then 1 else 0 end),
        with_resolution = with_resolution - (case when r.status in ('resolved', 'closed') and r.resolved_at is not null then 1 else 0 end),
        with_human_first_response = with_human_first_response - (case when r.human_replied_at is not null and r.handoff_at is not null and r.human_replied_at >= r.handoff_at then 1 else 0 end),
        updated_at = cast(extract(epoch from clock_timestamp()) * 1000 as bigint)
    where organization_id = r.organization_id
        and day = r.created_at / 86400000
        and channel = r.channel
        and has_intent = case when r.intent is null then 0 else 1 end
        and intent = coalesce(r.intent, '');
end;
$$;

create function conversations_analytics() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        perform analytics_daily_add(new);
    elsif tg_op = 'DELETE' then
        perform analytics_daily_remove(old);
    elsif (old.organization_id, old.created_at / 86400000, old.channel, coalesce(old.intent, ''), old.intent is null)
        <= (new.organization_id, new.created_at / 86400000, new.channel, coalesce(new.intent, ''), new.intent is null) then
        -- A conversation moving to another row locks both rows; taking them in key order means
        -- two transactions moving conversations in opposite directions cannot deadlock.
        perform analytics_daily_remove(old);
        perform analytics_daily_add(new);
    else
        perform analytics_daily_add(new);
        perform analytics_daily_remove(old);
    end if;
    return null;
end;
$$;

-- Only changes of the columns the figures read fire it.
create trigger conversations_analytics after insert or delete or update of
    organization_id, created_at, channel, intent, status, resolved_by, message_count, handoff_count, reopen_count, csat_rating, first_response_at, resolved_at, handoff_at, human_replied_at
    on conversations for each row execute function conversations_analytics();
