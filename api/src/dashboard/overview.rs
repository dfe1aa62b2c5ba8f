//! The Overview page: the analytics summary of the last 30 days (the same figures as
//! `GET /api/v1/platform/analytics/summary`) with charts: conversations per day, the
//! resolution split (AI / human / unresolved), the CSAT trend, top intents and per channel.
//! Agents land on the inbox instead.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use engine::service::analytics::{self, Figures, SummaryQuery};
use engine::store::users::Role;

use super::charts;
use super::html::{self, esc};
use super::session::{PageResult, Viewer};
use crate::state::AppState;

fn pct(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

fn stat(label: &str, value: &str) -> String {
    format!(
        "<div class=\"card stat\">{}<small>{}</small></div>",
        esc(value),
        esc(label)
    )
}

fn figures_row(name: &str, f: &Figures) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(name),
        f.conversations,
        pct(f.ai_resolution_rate),
        pct(f.handoff_rate),
        f.unresolved,
        f.csat
            .average
            .map_or_else(|| "—".to_owned(), |a| format!("{a:.2}")),
    )
}

/// `GET /dashboard`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    if viewer.user.role < Role::Admin {
        return Ok(Redirect::to("/dashboard/inbox").into_response());
    }
    let s = analytics::summary(
        &state.store,
        &viewer.user.organization_id,
        &SummaryQuery::default(),
    )
    .await?;
    let t = &s.totals;
    let labels: Vec<String> = s.series.iter().map(|d| d.date.clone()).collect();
    let per_day: Vec<f64> = s
        .series
        .iter()
        .map(|d| d.figures.conversations as f64)
        .collect();
    let csat: Vec<Option<f64>> = s.series.iter().map(|d| d.figures.csat.average).collect();
    let every = (labels.len() / 6).max(1);
    let mut intents = String::new();
    for i in &s.top_intents {
        intents.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&i.intent),
            i.conversations,
            pct(i.share),
            i.ai_resolved
        ));
    }
    let mut channels = String::new();
    for c in &s.channels {
        channels.push_str(&figures_row(&c.channel, &c.figures));
    }
    let body = format!(
        "<h1>Overview</h1><p>From {from} to {to} (UTC).</p>\
<div class=\"grid\">{a}{b}{c}{d}{e}</div>\
<div class=\"grid\"><section class=\"card\"><h2>Conversations per day</h2>{per_day}</section>\
<section class=\"card\"><h2>CSAT trend (1–5)</h2>{csat}</section></div>\
<section class=\"card\"><h2>Resolution</h2>{split}\
<p><span class=\"badge\" style=\"background:#4338ca;color:#fff\">AI {ai}</span> \
<span class=\"badge\" style=\"background:#047857;color:#fff\">human {human}</span> \
<span class=\"badge\" style=\"background:#f59e0b\">unresolved {unresolved}</span></p></section>\
<div class=\"grid\"><section class=\"card\"><h2>Top intents</h2><div class=\"table\"><table><thead><tr><th>Intent</th>\
<th>Conversations</th><th>Share</th><th>AI-resolved</th></tr></thead><tbody>{intents}</tbody></table></div></section>\
<section class=\"card\"><h2>Per channel</h2><div class=\"table\"><table><thead><tr><th>Channel</th><th>Conv.</th>\
<th>AI rate</th><th>Handoff</th><th>Open</th><th>CSAT</th></tr></thead><tbody>{channels}</tbody></table></div></section></div>",
        from = esc(&s.from),
        to = esc(&s.to),
        a = stat("conversations", &t.conversations.to_string()),
        b = stat("AI resolution rate", &pct(t.ai_resolution_rate)),
        c = stat("handoff rate", &pct(t.handoff_rate)),
        d = stat("CSAT average", &t.csat.average.map_or_else(|| "—".to_owned(), |a| format!("{a:.2}"))),
        e = stat("messages", &t.messages.to_string()),
        per_day = charts::bars("Conversations per day", &labels, &per_day, every),
        csat = charts::line("Average CSAT per day", &labels, &csat, 5.0),
        split = charts::split(
            "Resolution split",
            &[
                ("AI", t.ai_resolved as f64, "#4338ca"),
                ("human", t.human_resolved as f64, "#047857"),
                ("unresolved", t.unresolved as f64, "#f59e0b"),
            ]
        ),
        ai = t.ai_resolved,
        human = t.human_resolved,
        unresolved = t.unresolved,
    );
    Ok(html::layout(&viewer, "overview", "Overview", &body).into_response())
}
