//! The analytics rollup (`analytics_daily_all`, migrations 0013 and 0014) against the live
//! aggregates: the
//! summary the endpoint serves (whole days from the rollup, partial days and medians live)
//! must equal `engine::service::analytics::summary_live` (everything from `conversations`)
//! for any period, with or without the channel filter, after every kind of write: turns,
//! handoff, assignment, human replies, resolve, close, reopen, auto-resolve, CSAT and its
//! replacement, and direct SQL (inserts, moves between days, channels and intents, deletes).

use std::time::Duration;

use engine::ids::OrganizationId;
use engine::service::analytics::{summary_live, SummaryQuery};
use engine::store::analytics::DAY_MS;
use engine::store::now_ms;
use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, spawn_app_with, Backend, TestApp};

use super::super::{conv, no_automatic_handoff, post, start};

/// `YYYY-MM-DD` of a unix-ms instant (UTC), by the civil-from-days algorithm (H. Hinnant).
fn date(ms: i64) -> String {
    let z = ms.div_euclid(DAY_MS) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// RFC 3339 of a unix-ms instant (UTC, millisecond precision).
fn instant(ms: i64) -> String {
    let in_day = ms.rem_euclid(DAY_MS);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date(ms),
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// The summary the endpoint serves for `query`, and the live reference for the same query.
async fn both_paths(app: &TestApp, query: &SummaryQuery) -> (Value, Value) {
    let mut params = Vec::new();
    if let Some(from) = &query.from {
        params.push(format!("from={}", urlencode(from)));
    }
    if let Some(to) = &query.to {
        params.push(format!("to={}", urlencode(to)));
    }
    if let Some(channel) = query.channel {
        params.push(format!("channel={}", channel.as_str()));
    }
    let path = format!("/api/v1/platform/analytics/summary?{}", params.join("&"));
    let (status, served) = send_json(app.get(&path)).await;
    assert_eq!(status, 200, "{path}: {served}");
    let org = OrganizationId::from_trusted(app.org_id.clone());
    let live = summary_live(&app.state.store, &org, query).await.unwrap();
    (served, serde_json::to_value(live).unwrap())
}

fn urlencode(raw: &str) -> String {
    raw.replace('+', "%2B").replace(':', "%3A")
}

/// Asserts that the served summary equals the live one for each query, and returns the served
/// conversation counts (so callers can check the periods are not all empty).
async fn assert_paths_agree(app: &TestApp, queries: &[SummaryQuery]) -> Vec<i64> {
    let mut counts = Vec::new();
    for query in queries {
        let (served, live) = both_paths(app, query).await;
        assert_eq!(served, live, "rollup and live differ for {query:?}");
        counts.push(served["conversations"].as_i64().unwrap());
    }
    counts
}

fn period(from: String, to: String, channel: Option<&str>) -> SummaryQuery {
    SummaryQuery {
        from: Some(from),
        to: Some(to),
        channel: channel.map(|c| engine::channel::Channel::parse(c).unwrap()),
        granularity: None,
    }
}

/// Periods around `now`: whole days, edges in the middle of a day, one partial day, the
/// channel filter, and the default period.
fn periods(now: i64) -> Vec<SummaryQuery> {
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    // Not the default period: its end is "now", which moves between the two computations.
    let mut queries = Vec::new();
    for channel in [None, Some("web"), Some("sms")] {
        queries.extend([
            // Whole days only: every conversation from the rollup.
            period(date(today - 12 * DAY_MS), date(today), channel),
            // Starts and ends in the middle of days.
            period(
                instant(today - 9 * DAY_MS + 5 * 3_600_000 + 17),
                instant(today - 2 * DAY_MS + 13 * 3_600_000),
                channel,
            ),
            // Starts mid-day, ends on a date (the whole of today included).
            period(
                instant(today - 4 * DAY_MS + 20 * 3_600_000),
                date(today),
                channel,
            ),
            // Within one day.
            period(
                instant(today - 3 * DAY_MS + 3_600_000),
                instant(today - 3 * DAY_MS + 22 * 3_600_000),
                channel,
            ),
        ]);
    }
    queries
}

/// Everything the API can do to a conversation, checked against the live path after each
/// step; the auto-resolve sweep included.
async fn the_rollup_follows_every_lifecycle_change(backend: Backend) {
    let app = spawn_app(backend).await;
    no_automatic_handoff(&app).await;
    let now = now_ms();
    let queries = periods(now);
    let today = date(now);
    let whole_today = [
        period(today.clone(), today.clone(), None),
        period(today.clone(), today.clone(), Some("web")),
        period(today.clone(), today.clone(), Some("sms")),
    ];

    let c1 = start(&app, "cust_1", "web", "Where is my order?").await;
    let c2 = start(&app, "cust_2", "sms", "Where is my order?").await;
    assert_eq!(
        assert_paths_agree(&app, &whole_today).await,
        [2, 1, 1],
        "both conversations are counted from the rollup"
    );
    // Handoff, assignment, a human reply, return to the agent, resolve by a human.
    assert_eq!(
        post(&app, &conv(&c2, "handoff"), json!({"reason": "refund"}))
            .await
            .0,
        200
    );
    assert_paths_agree(&app, &whole_today).await;
    assert_eq!(
        post(&app, &conv(&c2, "assign"), json!({"assignee": "alice"}))
            .await
            .0,
        200
    );
    let reply = json!({"text": "Refund sent.", "author": "alice"});
    assert_eq!(post(&app, &conv(&c2, "messages"), reply).await.0, 201);
    assert_paths_agree(&app, &whole_today).await;
    assert_eq!(
        post(&app, &conv(&c2, "return-to-agent"), json!({})).await.0,
        200
    );
    assert_eq!(post(&app, &conv(&c2, "resolve"), json!({})).await.0, 200);
    // CSAT, then its replacement.
    assert_eq!(
        post(&app, &conv(&c2, "csat"), json!({"rating": 2})).await.0,
        200
    );
    assert_paths_agree(&app, &whole_today).await;
    assert_eq!(
        post(&app, &conv(&c2, "csat"), json!({"rating": 5})).await.0,
        200
    );
    let (served, _) = both_paths(&app, &whole_today[0]).await;
    assert_eq!(served["csat"]["average"], 5.0, "{served}");
    assert_eq!(served["human_resolved"], 1, "{served}");
    // Resolve by the agent, a reopening by the customer, close.
    assert_eq!(post(&app, &conv(&c1, "resolve"), json!({})).await.0, 200);
    assert_paths_agree(&app, &whole_today).await;
    let (status, _) = app.chat("cust_1", "One more thing", Some(&c1)).await;
    assert_eq!(status, 200);
    let (served, _) = both_paths(&app, &whole_today[0]).await;
    assert_eq!(
        (served["reopened"].as_i64(), served["messages"].as_i64()),
        (Some(1), Some(7)),
        "{served}"
    );
    assert_paths_agree(&app, &whole_today).await;
    assert_eq!(
        post(&app, &conv(&c1, "close"), json!({"resolved_by": "human"}))
            .await
            .0,
        200
    );
    assert_paths_agree(&app, &whole_today).await;
    assert_paths_agree(&app, &queries).await;

    // The auto-resolve sweep (its own server: a 1 s idle limit would race the steps above).
    let swept = spawn_app_with(backend, |config| {
        config.auto_resolve.after = Some(Duration::from_secs(1));
        config.auto_resolve.interval = Duration::from_millis(200);
    })
    .await;
    no_automatic_handoff(&swept).await;
    let idle = start(&swept, "cust_3", "web", "Where is my order?").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, state) =
            send_json(swept.get(&format!("/api/v1/platform/conversations/{idle}"))).await;
        if state["status"] == "resolved" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never auto-resolved: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (served, _) = both_paths(&swept, &whole_today[0]).await;
    assert_eq!(
        (served["resolved"].as_i64(), served["ai_resolved"].as_i64()),
        (Some(1), Some(1)),
        "{served}"
    );
    assert_paths_agree(&swept, &whole_today).await;
}

/// A deterministic pseudo-random sequence (a linear congruential generator), so a failure
/// reproduces.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n) as i64
    }
}

/// Conversations written with SQL over two weeks (every status, handoffs, reopenings, ratings,
/// missing intents), then moved between days, channels and intents, re-rated, resolved and
/// deleted: every period agrees with the live path.
async fn the_rollup_matches_the_live_figures_over_many_days(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = &app.state.store;
    let org = OrganizationId::from_trusted(app.org_id.clone());
    let customer = store.ensure_customer(&org, "cust_bulk").await.unwrap();
    let now = now_ms();
    let mut rng = Lcg(7);
    let statuses = ["open", "pending_human", "human", "resolved", "closed"];
    let channels = ["web", "sms", "whatsapp"];
    let intents = [Some("order_tracking"), Some("refund_request"), None];
    for i in 0..300 {
        let created = now - rng.below((14 * DAY_MS) as u64);
        let status = statuses[rng.below(5) as usize];
        let resolved = matches!(status, "resolved" | "closed");
        let handoff_at = (rng.below(3) == 0).then(|| created + 60_000);
        sqlx::query(
            "insert into conversations (id, organization_id, customer_id, channel, status, \
             intent, message_count, created_at, updated_at, first_response_at, handoff_at, \
             human_replied_at, resolved_at, resolved_by, handoff_count, reopen_count, \
             csat_rating) values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16)",
        )
        .bind(format!("conv_bulk{i:04}"))
        .bind(org.as_str())
        .bind(customer.as_str())
        .bind(channels[rng.below(3) as usize])
        .bind(status)
        .bind(intents[rng.below(3) as usize])
        .bind(rng.below(12))
        .bind(created)
        .bind((rng.below(5) > 0).then(|| created + 500 + rng.below(5_000)))
        .bind(handoff_at)
        // Some human replies come before the handoff: not in that median's population.
        .bind(handoff_at.map(|h| h - 30_000 + rng.below(600_000)))
        .bind(resolved.then(|| created + rng.below(DAY_MS as u64)))
        .bind(resolved.then(|| {
            if handoff_at.is_some() {
                "human"
            } else {
                "agent"
            }
        }))
        .bind(i64::from(handoff_at.is_some()))
        .bind(i64::from(rng.below(10) == 0))
        .bind((resolved && rng.below(2) == 0).then(|| 1 + rng.below(5)))
        .execute(store.pool())
        .await
        .unwrap();
    }
    let queries = periods(now);
    let counts = assert_paths_agree(&app, &queries).await;
    assert!(
        counts.iter().filter(|&&n| n > 0).count() >= 10,
        "the periods must hold conversations: {counts:?}"
    );

    // Writes that move conversations between rollup rows, or change what they count.
    let changes = [
        "update conversations set created_at = created_at - 86400000 \
         where organization_id = $1 and id < 'conv_bulk0040'",
        "update conversations set channel = 'web' \
         where organization_id = $1 and id >= 'conv_bulk0040' and id < 'conv_bulk0080'",
        "update conversations set intent = null \
         where organization_id = $1 and id >= 'conv_bulk0080' and id < 'conv_bulk0100'",
        "update conversations set intent = 'returns' \
         where organization_id = $1 and id >= 'conv_bulk0100' and id < 'conv_bulk0120'",
        "update conversations set status = 'resolved', resolved_at = created_at + 1000, \
         resolved_by = 'agent' where organization_id = $1 and status = 'open'",
        "update conversations set csat_rating = 3 \
         where organization_id = $1 and status = 'closed'",
        "update conversations set status = 'open', reopen_count = reopen_count + 1 \
         where organization_id = $1 and id >= 'conv_bulk0200' and id < 'conv_bulk0230'",
        "update conversations set message_count = message_count + 2 \
         where organization_id = $1 and id >= 'conv_bulk0230' and id < 'conv_bulk0260'",
        "delete from conversations \
         where organization_id = $1 and id >= 'conv_bulk0260' and id < 'conv_bulk0280'",
    ];
    for sql in changes {
        sqlx::query(sql)
            .bind(org.as_str())
            .execute(store.pool())
            .await
            .unwrap();
        assert_paths_agree(&app, &queries).await;
    }
    let (served, _) = both_paths(&app, &period(date(now - 20 * DAY_MS), date(now), None)).await;
    assert_eq!(served["conversations"], 280, "{served}");
}

/// On PostgreSQL the triggers append deltas, which the server folds into the rollup in the
/// background: folding moves every delta and changes no figure of any summary. On SQLite the
/// triggers write the rollup directly and there is never anything to fold.
async fn folding_the_deltas_changes_no_figure(backend: Backend) {
    // No background fold during the test: the test folds by hand.
    let app = spawn_app_with(backend, |config| {
        config.analytics_fold_interval = Duration::from_secs(3600);
    })
    .await;
    no_automatic_handoff(&app).await;
    let queries = periods(now_ms());
    let c1 = start(&app, "cust_1", "web", "Where is my order?").await;
    start(&app, "cust_2", "sms", "Can I get a refund?").await;
    let (status, _) = app
        .chat("cust_1", "Thanks, one more thing", Some(&c1))
        .await;
    assert_eq!(status, 200);
    assert_eq!(post(&app, &conv(&c1, "resolve"), json!({})).await.0, 200);
    assert_eq!(
        post(&app, &conv(&c1, "csat"), json!({"rating": 4})).await.0,
        200
    );
    let mut before = Vec::new();
    for query in &queries {
        before.push(both_paths(&app, query).await.0);
    }
    assert_eq!(before[0]["conversations"], 2, "{}", before[0]);

    let store = &app.state.store;
    let pending = store.pending_analytics_deltas().await.unwrap();
    let folded = store.fold_analytics_deltas().await.unwrap();
    match backend {
        Backend::Postgres => {
            assert!(pending > 0, "the turns appended deltas");
            assert!(folded > 0, "the fold wrote rollup rows");
        }
        Backend::Sqlite => assert_eq!((pending, folded), (0, 0)),
    }
    assert_eq!(store.pending_analytics_deltas().await.unwrap(), 0);
    for (query, before) in queries.iter().zip(&before) {
        let (after, live) = both_paths(&app, query).await;
        assert_eq!(&after, before, "folding changed the summary of {query:?}");
        assert_eq!(
            after, live,
            "rollup and live differ after the fold for {query:?}"
        );
    }

    // Writes after a fold land in new deltas on top of the folded rows; a second fold adds
    // them to the same rows.
    let (status, _) = app.chat("cust_2", "And another question", None).await;
    assert_eq!(status, 200);
    assert_paths_agree(&app, &queries).await;
    store.fold_analytics_deltas().await.unwrap();
    let (served, _) = both_paths(&app, &queries[0]).await;
    assert_eq!(served["conversations"], 3, "{served}");
    assert_paths_agree(&app, &queries).await;
}

both_backends!(
    folding_the_deltas_changes_no_figure,
    the_rollup_follows_every_lifecycle_change,
    the_rollup_matches_the_live_figures_over_many_days,
);
