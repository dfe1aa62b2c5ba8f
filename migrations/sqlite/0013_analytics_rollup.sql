-- Analytics rollup (issue 7, performance): the additive figures of the summary per
-- organization, UTC day of conversation start, channel and intent, so a summary over whole days
-- reads a few hundred rows instead of every conversation (the service computes the partial days
-- at the period's edges, and the medians, from `conversations`).
--
-- It is kept exact by triggers on `conversations`: each insert, update or delete takes the row's
-- old contribution out and puts its new one in, inside the writing statement's transaction, so
-- every write path (turns, lifecycle changes, CSAT, the auto-resolve sweep, bulk SQL) keeps it
-- right without code of its own. The PostgreSQL twin of this file does the same with a PL/pgSQL trigger function.
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
    cast((julianday('now') - 2440587.5) * 86400000 as integer),
    cast((julianday('now') - 2440587.5) * 86400000 as integer)
from conversations c
group by c.organization_id, c.created_at / 86400000, c.channel, case when c.intent is null then 0 else 1 end, coalesce(c.intent, '');

-- A new conversation adds its contribution (creating its row when needed).
create trigger conversations_analytics_insert after insert on conversations
begin
    insert into analytics_daily values (
        new.organization_id,
        new.created_at / 86400000,
        new.channel,
        case when new.intent is null then 0 else 1 end,
        coalesce(new.intent, ''),
        1,
        new.message_count,
        case when new.status in ('resolved', 'closed') then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_by = 'agent' then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_by = 'human' then 1 else 0 end,
        case when new.handoff_count > 0 then 1 else 0 end,
        case when new.reopen_count > 0 then 1 else 0 end,
        case when new.csat_rating is not null then 1 else 0 end,
        coalesce(new.csat_rating, 0),
        case when new.csat_rating is not null and new.status in ('resolved', 'closed') and new.resolved_by = 'agent' then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_by = 'agent' then coalesce(new.csat_rating, 0) else 0 end,
        case when new.csat_rating is not null and new.status in ('resolved', 'closed') and new.resolved_by = 'human' then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_by = 'human' then coalesce(new.csat_rating, 0) else 0 end,
        case when new.first_response_at is not null then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_at is not null then 1 else 0 end,
        case when new.human_replied_at is not null and new.handoff_at is not null and new.human_replied_at >= new.handoff_at then 1 else 0 end,
        cast((julianday('now') - 2440587.5) * 86400000 as integer),
        cast((julianday('now') - 2440587.5) * 86400000 as integer)
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

-- A change of a column the figures read moves the contribution (perhaps to another row).
create trigger conversations_analytics_update after update of
    organization_id, created_at, channel, intent, status, resolved_by, message_count, handoff_count, reopen_count, csat_rating, first_response_at, resolved_at, handoff_at, human_replied_at
    on conversations
begin
    update analytics_daily set
        conversations = conversations - (1),
        messages = messages - (old.message_count),
        resolved = resolved - (case when old.status in ('resolved', 'closed') then 1 else 0 end),
        ai_resolved = ai_resolved - (case when old.status in ('resolved', 'closed') and old.resolved_by = 'agent' then 1 else 0 end),
        human_resolved = human_resolved - (case when old.status in ('resolved', 'closed') and old.resolved_by = 'human' then 1 else 0 end),
        handed_off = handed_off - (case when old.handoff_count > 0 then 1 else 0 end),
        reopened = reopened - (case when old.reopen_count > 0 then 1 else 0 end),
        csat_count = csat_count - (case when old.csat_rating is not null then 1 else 0 end),
        csat_sum = csat_sum - (coalesce(old.csat_rating, 0)),
        csat_ai_count = csat_ai_count - (case when old.csat_rating is not null and old.status in ('resolved', 'closed') and old.resolved_by = 'agent' then 1 else 0 end),
        csat_ai_sum = csat_ai_sum - (case when old.status in ('resolved', 'closed') and old.resolved_by = 'agent' then coalesce(old.csat_rating, 0) else 0 end),
        csat_human_count = csat_human_count - (case when old.csat_rating is not null and old.status in ('resolved', 'closed') and old.resolved_by = 'human' then 1 else 0 end),
        csat_human_sum = csat_human_sum - (case when old.status in ('resolved', 'closed') and old.resolved_by = 'human' then coalesce(old.csat_rating, 0) else 0 end),
        with_first_response = with_first_response - (case when old.first_response_at is not null then 1 else 0 end),
        with_resolution = with_resolution - (case when old.status in ('resolved', 'closed') and old.resolved_at is not null then 1 else 0 end),
        with_human_first_response = with_human_first_response - (case when old.human_replied_at is not null and old.handoff_at is not null and old.human_replied_at >= old.handoff_at then 1 else 0 end),
        updated_at = cast((julianday('now') - 2440587.5) * 86400000 as integer)
    where organization_id = old.organization_id
        and day = old.created_at / 86400000
        and channel = old.channel
        and has_intent = case when old.intent is null then 0 else 1 end
        and intent = coalesce(old.intent, '');
    insert into analytics_daily values (
        new.organization_id,
        new.created_at / 86400000,
        new.channel,
        case when new.intent is null then 0 else 1 end,
        coalesce(new.intent, ''),
        1,
        new.message_count,
        case when new.status in ('resolved', 'closed') then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_by = 'agent' then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_by = 'human' then 1 else 0 end,
        case when new.handoff_count > 0 then 1 else 0 end,
        case when new.reopen_count > 0 then 1 else 0 end,
        case when new.csat_rating is not null then 1 else 0 end,
        coalesce(new.csat_rating, 0),
        case when new.csat_rating is not null and new.status in ('resolved', 'closed') and new.resolved_by = 'agent' then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_by = 'agent' then coalesce(new.csat_rating, 0) else 0 end,
        case when new.csat_rating is not null and new.status in ('resolved', 'closed') and new.resolved_by = 'human' then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_by = 'human' then coalesce(new.csat_rating, 0) else 0 end,
        case when new.first_response_at is not null then 1 else 0 end,
        case when new.status in ('resolved', 'closed') and new.resolved_at is not null then 1 else 0 end,
        case when new.human_replied_at is not null and new.handoff_at is not null and new.human_replied_at >= new.handoff_at then 1 else 0 end,
        cast((julianday('now') - 2440587.5) * 86400000 as integer),
        cast((julianday('now') - 2440587.5) * 86400000 as integer)
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

-- A deleted conversation takes its contribution out (an update only: when the organization
-- itself is deleted its rows are already gone, and nothing must be re-created).
create trigger conversations_analytics_delete after delete on conversations
begin
    update analytics_daily set
        conversations = conversations - (1),
        messages = messages - (old.message_count),
        resolved = resolved - (case when old.status in ('resolved', 'closed') then 1 else 0 end),
        ai_resolved = ai_resolved - (case when old.status in ('resolved', 'closed') and old.resolved_by = 'agent' then 1 else 0 end),
        human_resolved = human_resolved - (case when old.status in ('resolved', 'closed') and old.resolved_by = 'human' then 1 else 0 end),
        handed_off = handed_off - (case when old.handoff_count > 0 then 1 else 0 end),
        reopened = reopened - (case when old.reopen_count > 0 then 1 else 0 end),
        csat_count = csat_count - (case when old.csat_rating is not null then 1 else 0 end),
        csat_sum = csat_sum - (coalesce(old.csat_rating, 0)),
        csat_ai_count = csat_ai_count - (case when old.csat_rating is not null and old.status in ('resolved', 'closed') and old.resolved_by = 'agent' then 1 else 0 end),
        csat_ai_sum = csat_ai_sum - (case when old.status in ('resolved', 'closed') and old.resolved_by = 'agent' then coalesce(old.csat_rating, 0) else 0 end),
        csat_human_count = csat_human_count - (case when old.csat_rating is not null and old.status in ('resolved', 'closed') and old.resolved_by = 'human' then 1 else 0 end),
        csat_human_sum = csat_human_sum - (case when old.status in ('resolved', 'closed') and old.resolved_by = 'human' then coalesce(old.csat_rating, 0) else 0 end),
        with_first_response = with_first_response - (case when old.first_response_at is not null then 1 else 0 end),
        with_resolution = with_resolution - (case when old.status in ('resolved', 'closed') and old.resolved_at is not null then 1 else 0 end),
        with_human_first_response = with_human_first_response - (case when old.human_replied_at is not null and old.handoff_at is not null and old.human_replied_at >= old.handoff_at then 1 else 0 end),
        updated_at = cast((julianday('now') - 2440587.5) * 86400000 as integer)
    where organization_id = old.organization_id
        and day = old.created_at / 86400000
        and channel = old.channel
        and has_intent = case when old.intent is null then 0 else 1 end
        and intent = coalesce(old.intent, '');
end;
