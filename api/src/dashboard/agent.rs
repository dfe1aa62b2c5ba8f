//! The Agent page: name, tone, goal, greeting, guardrails, brand and language (saved with
//! `PATCH /api/v1/dashboard/agent-config`), the intents with their examples
//! (`/api/v1/dashboard/intents`), and a live test chat against the real chat endpoint.

use axum::extract::State;
use axum::response::IntoResponse;
use engine::intent::manage;
use engine::service::agent_config;
use engine::store::users::Role;

use super::html::{self, esc};
use super::session::{PageResult, Viewer};
use crate::routes::intents::{IntentBody, TuningBody};
use crate::state::AppState;

const TONES: &[&str] = &[
    "friendly",
    "professional",
    "casual",
    "concise",
    "empathetic",
];
/// Examples shown per intent in the table.
const SHOWN_EXAMPLES: usize = 3;

/// `GET /dashboard/agent`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    let org = &viewer.user.organization_id;
    let config = agent_config::get_agent_config(&state.store, org).await?;
    let tone = serde_json::to_value(config.tone)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let tones: String = TONES
        .iter()
        .map(|t| {
            format!(
                "<option value=\"{t}\"{}>{t}</option>",
                if *t == tone { " selected" } else { "" }
            )
        })
        .collect();
    let g = &config.guardrails;
    let intents = manage::list_intents(&state.store, org).await?;
    let tuning = match state.agent.intent_tuning(org).await {
        Ok(status) => tuning_line(TuningBody::from(status)),
        Err(err) => format!("not known ({})", esc(err.message())),
    };
    let mut rows = String::new();
    for def in intents {
        let body = IntentBody::from(def);
        let examples: Vec<String> = body
            .examples
            .iter()
            .take(SHOWN_EXAMPLES)
            .map(|e| esc(e))
            .collect();
        let delete = if body.source == "default" {
            String::new()
        } else {
            format!(
                "<button class=\"danger\" data-api=\"DELETE /api/v1/dashboard/intents/{label}\" data-confirm=\"Delete {label}?\">Delete</button>",
                label = esc(&body.label)
            )
        };
        rows.push_str(&format!(
            "<tr><td><code>{}</code><br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{delete}</td></tr>",
            esc(&body.label),
            esc(&body.description),
            esc(&body.source),
            body.example_count,
            examples.join("<br>"),
        ));
    }
    let form = format!(
        "<form class=\"stack card\" id=\"agent-config\" data-api=\"PATCH /api/v1/dashboard/agent-config\" data-done=\"Agent saved.\">\
<div class=\"grid\"><label>Name <input name=\"name\" value=\"{name}\" required maxlength=\"80\"></label>\
<label>Tone <select name=\"tone\">{tones}</select></label>\
<label>Default language <input name=\"default_language\" value=\"{lang}\" maxlength=\"2\" size=\"3\"></label>\
<label>Accent colour <input type=\"color\" name=\"brand.accent_color\" value=\"{accent}\"></label>\
<label>Avatar URL <input type=\"url\" name=\"brand.avatar_url\" value=\"{avatar}\"></label></div>\
<label>Goal <textarea name=\"goal\">{goal}</textarea></label>\
<label>Greeting <input name=\"greeting\" value=\"{greeting}\"></label>\
<fieldset class=\"stack\"><legend>Guardrails</legend>\
<label>Instructions <textarea name=\"guardrails.instructions\" data-keep-empty>{instructions}</textarea></label>\
<label>Blocked topics (comma-separated) <input name=\"guardrails.blocked_topics\" data-type=\"list\" data-keep-empty value=\"{blocked}\"></label>\
<label>Escalation keywords (comma-separated) <input name=\"guardrails.escalation_keywords\" data-type=\"list\" data-keep-empty value=\"{escalate}\"></label>\
<label>Hand off after this many unanswered turns <input type=\"number\" min=\"0\" max=\"20\" name=\"guardrails.max_failed_turns\" data-type=\"number\" value=\"{max_failed}\"></label>\
<label><span><input type=\"checkbox\" name=\"guardrails.escalate_on_negative_sentiment\"{negative}> Hand off on strongly negative messages</span></label>\
</fieldset><button type=\"submit\" class=\"primary\">Save</button></form>",
        name = esc(&config.name),
        lang = esc(&config.default_language),
        accent = esc(&config.brand.accent_color),
        avatar = esc(config.brand.avatar_url.as_deref().unwrap_or("")),
        goal = esc(&config.goal),
        greeting = esc(&config.greeting),
        instructions = esc(&g.instructions),
        blocked = esc(&g.blocked_topics.join(", ")),
        escalate = esc(&g.escalation_keywords.join(", ")),
        max_failed = g.max_failed_turns,
        negative = if g.escalate_on_negative_sentiment { " checked" } else { "" },
    );
    let body = format!(
        "<h1>Agent</h1>{form}\
<div class=\"grid\"><section class=\"card\"><h2>Live test chat</h2>\
<form id=\"test-chat\" class=\"stack\"><div class=\"log\" aria-live=\"polite\"></div>\
<label>Message <input name=\"message\" autocomplete=\"off\" required></label>\
<button type=\"submit\" class=\"primary\">Send</button></form>\
<p class=\"empty\">Test turns are real conversations of the customer id <code>dashboard-test</code>.</p></section>\
<section class=\"card\"><h2>Add or replace an intent</h2>\
<form class=\"stack\" data-api=\"POST /api/v1/dashboard/intents\" data-done=\"Intent saved.\">\
<label>Label (snake_case) <input name=\"label\" required pattern=\"[a-z0-9_]+\" maxlength=\"64\"></label>\
<label>Description <input name=\"description\"></label>\
<label>Examples (one per line) <textarea name=\"examples\" data-type=\"lines\" required></textarea></label>\
<button type=\"submit\">Save intent</button></form></section></div>\
<h2>Intents</h2><p class=\"empty\" id=\"intent-tuning\">Encoder fine-tuned on these intents: {tuning}</p><div class=\"table\"><table><thead><tr><th>Intent</th><th>Source</th><th>Examples</th>\
<th>Some examples</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>"
    );
    Ok(html::layout(&viewer, "agent", "Agent", &body).into_response())
}

/// The intent set's tuning state in words, for the intents table's heading.
fn tuning_line(body: TuningBody) -> String {
    match body.state {
        "off" => "off (the frozen embedding model classifies)".to_owned(),
        "queued" => "queued (the frozen model classifies meanwhile)".to_owned(),
        "tuning" => "in progress (the frozen model classifies meanwhile)".to_owned(),
        "ready" => format!(
            "ready ({} in {:.0} s)",
            body.origin.unwrap_or("tuned"),
            body.seconds.unwrap_or_default()
        ),
        other => format!(
            "{other}: {}",
            esc(body.detail.as_deref().unwrap_or_default())
        ),
    }
}
