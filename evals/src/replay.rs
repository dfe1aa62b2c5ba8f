//! `blaigent-eval replay`: replays a recorded conversation against the current engine and
//! reports every stage whose output changed.
//!
//! How a replay runs ([`replay`]):
//! 1. the recorded turns are read from the organization's database (`turn_recordings`);
//! 2. a scratch SQLite database receives a copy of the organization and its actions, with each
//!    action's URL pointed at the [`ReplayBackend`]: the conversation state the replay builds
//!    (memory, pending actions, the action log) never touches the recorded database, and no
//!    call reaches the organization's systems;
//! 3. the agent is assembled as the server assembles it, over the organization's *current*
//!    agent configuration, intents (the recorded database) and knowledge (its vector index),
//!    with the [`ReplayModel`] in place of the language model when the recording has model
//!    calls;
//! 4. each customer message is replayed in order, with the recorded action results and model
//!    responses of that turn substituted, and the recorded conversation so far as history (so
//!    a change shows at the turn where it happens instead of cascading);
//! 5. [`engine::agent::trace::changes`] compares each replayed trace with the recorded one.
//!
//! [`ReplayReport::markdown`] and the JSON of [`ReplayReport`] are the report;
//! [`regression_case`] turns the recording into a case of the `conversations` suite.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use engine::actions::executor::Executor;
use engine::actions::{Action, ActionEngine};
use engine::agent::trace::{self, StageChange, TurnTrace};
use engine::agent::{recorder, Agent, HistoryMessage, Role, Turn};
use engine::embed::Embedder;
use engine::ids::{ConversationId, OrganizationId};
use engine::intent::IntentService;
use engine::store::recording::TurnRecording;
use engine::store::Store;
use engine::webhooks::UrlGuard;
use serde::Serialize;
use serde_json::{json, Value};

use crate::replay_backend::ReplayBackend;
use crate::replay_model::ReplayModel;
use crate::suites::conversations::{ConversationCase, ExpectedAction, ScriptedTurn};

/// The caller-side customer id the replay's scratch conversation uses.
const REPLAY_CUSTOMER: &str = "replay";
/// Earlier messages a turn sees (as `service::chat::HISTORY_MESSAGES`).
const HISTORY_MESSAGES: usize = engine::service::chat::HISTORY_MESSAGES as usize;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The recorded database (`sqlite://...` or `postgres://...`); only read.
    pub database_url: String,
    /// `conv_...`
    pub conversation: String,
    /// The conversation's organization; looked up from the recording when absent.
    pub organization: Option<String>,
    /// The server's data folder (its embedded vector index is `<dir>/qdrant`); ignored when
    /// `BLAIGENT_QDRANT_URL` names a Qdrant server.
    pub data_dir: std::path::PathBuf,
}

/// One replayed turn.
#[derive(Debug, Clone, Serialize)]
pub struct TurnReplay {
    /// 1-based.
    pub turn: usize,
    pub message: String,
    pub changes: Vec<StageChange>,
    pub recorded: TurnTrace,
    pub replayed: TurnTrace,
}

/// The outcome of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub organization_id: String,
    pub conversation_id: String,
    pub turns: Vec<TurnReplay>,
    /// Facts the replayed conversation left in (scratch) customer memory, latest per key.
    pub final_memory: BTreeMap<String, String>,
}

impl ReplayReport {
    /// Whether some stage of some turn changed.
    pub fn changed(&self) -> bool {
        self.turns.iter().any(|t| !t.changes.is_empty())
    }

    /// The process exit code: 0 when nothing changed, 1 when something did.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.changed())
    }

    /// The readable report.
    pub fn markdown(&self) -> String {
        let changed = self.turns.iter().filter(|t| !t.changes.is_empty()).count();
        let mut out = format!(
            "# Replay of {} ({})\n\n{} turns replayed, {} with changes: **{}**.\n",
            self.conversation_id,
            self.organization_id,
            self.turns.len(),
            changed,
            if changed == 0 { "unchanged" } else { "CHANGED" },
        );
        for t in &self.turns {
            out.push_str(&format!("\n## Turn {}: {}\n\n", t.turn, cell(&t.message)));
            if t.changes.is_empty() {
                out.push_str("No stage changed.\n");
                continue;
            }
            out.push_str("| stage | recorded | replayed |\n|---|---|---|\n");
            for c in &t.changes {
                out.push_str(&format!(
                    "| {} | {} | {} |\n",
                    c.stage,
                    cell(&c.recorded),
                    cell(&c.replayed)
                ));
            }
        }
        out
    }
}

/// Text fit for one Markdown table cell.
fn cell(text: &str) -> String {
    let one_line = text.replace(['\n', '\r'], " ").replace('|', "\\|");
    if one_line.chars().count() > 300 {
        format!("{}…", one_line.chars().take(300).collect::<String>())
    } else {
        one_line
    }
}

/// The embedding model the server uses (loaded once per process).
pub fn shared_embedder() -> Result<Arc<dyn Embedder>> {
    ingest::shared_embedder()
        .map_err(|e| anyhow!("{}", e.chain()))
        .context("loading the embedding model")
}

/// Replays the conversation of `options` with the server's embedding model.
#[tracing::instrument(skip_all, fields(conversation = %options.conversation))]
pub async fn replay(options: &ReplayOptions) -> Result<ReplayReport> {
    let embedder = shared_embedder()?;
    let source = Store::connect(&options.database_url)
        .await
        .map_err(|e| anyhow!("{}", e.chain()))
        .context("connecting to the recorded database")?;
    let conversation =
        ConversationId::parse(&options.conversation).map_err(|e| anyhow!("--conversation: {e}"))?;
    let org = match &options.organization {
        Some(raw) => OrganizationId::parse(raw).map_err(|e| anyhow!("--organization: {e}"))?,
        None => source
            .recorded_conversation_org(&conversation)
            .await
            .map_err(|e| anyhow!("{}", e.chain()))?
            .with_context(|| format!("no recorded turns for {conversation}"))?,
    };
    let recordings = source
        .turn_recordings(&org, &conversation)
        .await
        .map_err(|e| anyhow!("{}", e.chain()))
        .context("reading the recorded turns")?;
    if recordings.is_empty() {
        bail!("no recorded turns for {conversation} in {org} (was recording enabled?)");
    }
    // The server had a model when the recording has model calls; without any, the replay
    // runs model-less too (else every knowledge turn would ask the replay model).
    let with_model = recordings.iter().any(|r| !r.trace.model_calls.is_empty());
    let scratch = Scratch::build(&source, &org, embedder, &options.data_dir, with_model).await?;
    let config = source
        .agent_config(&org)
        .await
        .map_err(|e| anyhow!("{}", e.chain()))?
        .unwrap_or_default();
    let customer_record_id = scratch
        .store
        .ensure_customer(&org, REPLAY_CUSTOMER)
        .await
        .map_err(|e| anyhow!("{}", e.chain()))?;
    let conversation_id = ConversationId::new();
    let mut history: Vec<HistoryMessage> = Vec::new();
    let mut turns = Vec::with_capacity(recordings.len());
    for (i, recording) in recordings.iter().enumerate() {
        let recorded = &recording.trace;
        scratch.model.load(recorded.model_calls.clone());
        scratch.backend.load(&recorded.action_calls);
        let start = history.len().saturating_sub(HISTORY_MESSAGES);
        let turn = Turn {
            organization_id: org.clone(),
            customer_id: REPLAY_CUSTOMER.into(),
            customer_record_id: customer_record_id.clone(),
            conversation_id: conversation_id.clone(),
            channel: recorded.channel,
            message: recorded.message.clone(),
            language: recorded.requested_language.clone(),
            metadata: recorded.metadata.clone(),
            history: history[start..].to_vec(),
            config: config.clone(),
        };
        let (reply, log) = recorder::capture(scratch.run(&turn, recorded)).await;
        let reply = reply
            .map_err(|e| anyhow!("{}", e.chain()))
            .with_context(|| format!("replaying turn {}", i + 1))?;
        let replayed = TurnTrace::record(&turn, &reply, log);
        turns.push(TurnReplay {
            turn: i + 1,
            message: recorded.message.clone(),
            changes: trace::changes(recorded, &replayed),
            recorded: recorded.clone(),
            replayed,
        });
        history.extend(recorded_history(recording));
    }
    let memory = scratch
        .store
        .customer_memory(&org, &customer_record_id)
        .await
        .map_err(|e| anyhow!("{}", e.chain()))?;
    let final_memory = memory
        .facts
        .iter()
        .map(|f| (f.key.clone(), f.value.clone()))
        .collect();
    Ok(ReplayReport {
        organization_id: org.into_string(),
        conversation_id: conversation.into_string(),
        turns,
        final_memory,
    })
}

/// The two messages a recorded turn added to the conversation.
fn recorded_history(recording: &TurnRecording) -> [HistoryMessage; 2] {
    let t = &recording.trace;
    [
        HistoryMessage {
            role: Role::Customer,
            text: t.message.clone(),
            intent: Some(t.intent.clone()),
        },
        HistoryMessage {
            role: Role::Agent,
            text: t.response.clone(),
            intent: Some(t.intent.clone()),
        },
    ]
}

/// The replay's own parts: the scratch database, the agent over it, the substitutes.
struct Scratch {
    store: Store,
    agent: Agent,
    model: Arc<ReplayModel>,
    backend: ReplayBackend,
    _dir: tempfile::TempDir,
}

impl Scratch {
    async fn build(
        source: &Store,
        org: &OrganizationId,
        embedder: Arc<dyn Embedder>,
        data_dir: &Path,
        with_model: bool,
    ) -> Result<Scratch> {
        let internal = |e: engine::Error| anyhow!("{}", e.chain());
        let organization = source
            .organization(org)
            .await
            .map_err(internal)?
            .with_context(|| format!("no organization {org} in the recorded database"))?;
        let dir = tempfile::tempdir().context("creating the scratch folder")?;
        let store = Store::connect(&format!("sqlite://{}/replay.db", dir.path().display()))
            .await
            .map_err(internal)?;
        store.migrate().await.map_err(internal)?;
        store
            .insert_organization_copy(&organization)
            .await
            .map_err(internal)?;
        let backend = ReplayBackend::start().await?;
        let actions: Vec<Action> = source.list_actions(org).await.map_err(internal)?;
        for action in &actions {
            let mut spec = action.to_spec();
            spec.url = backend.url_of(&action.name);
            store
                .insert_action(org, &spec)
                .await
                .map_err(internal)
                .with_context(|| format!("copying action {}", action.name))?;
        }
        let knowledge = ingest::Knowledge::open(
            source.clone(),
            embedder.clone(),
            data_dir,
            ingest::KnowledgeConfig::from_env().map_err(internal)?,
        )
        .await
        .map_err(internal)
        .context("opening the knowledge index")?;
        let guard = UrlGuard::new(vec!["127.0.0.1/32".parse()?]);
        let executor = Executor::new(guard).map_err(internal)?;
        let model = Arc::new(ReplayModel::default());
        let mut agent = Agent::new()
            .with_store(store.clone())
            .with_embedder(embedder.clone())
            .with_retriever(knowledge.retriever().clone())
            .with_intents(Arc::new(IntentService::new(
                source.clone(),
                embedder.clone(),
            )))
            .with_actions(Arc::new(ActionEngine::new(
                store.clone(),
                executor,
                Some(embedder),
            )));
        if with_model {
            agent = agent.with_model(model.clone());
        }
        Ok(Scratch {
            store,
            agent,
            model,
            backend,
            _dir: dir,
        })
    }

    /// Runs one turn the way it was recorded: streamed when the model was streamed.
    async fn run(&self, turn: &Turn, recorded: &TurnTrace) -> engine::Result<engine::agent::Reply> {
        let streamed = recorded
            .model_calls
            .iter()
            .any(|c| c.kind == trace::ModelCallKind::Stream);
        if !streamed {
            return self.agent.handle(turn).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let reply = self.agent.handle_streaming(turn, tx).await;
        let _ = drain.await;
        reply
    }
}

/// The recorded conversation as a case of the `conversations` suite: each message with the
/// recorded intent, the status of its first action and its backend call (the first, with
/// its parameters); the final state is whether it handed off and the replay's final memory.
/// Knowledge answers are not checked (the suite's organization has no knowledge base).
pub fn regression_case(report: &ReplayReport) -> ConversationCase {
    let turns = report
        .turns
        .iter()
        .map(|t| {
            let r = &t.recorded;
            ScriptedTurn {
                message: r.message.clone(),
                expected_intent: Some(r.intent.clone()),
                expected_status: Some(
                    r.actions
                        .first()
                        .map_or_else(|| "none".to_string(), |a| a.status.clone()),
                ),
                expected_action: r.action_calls.first().map(|c| ExpectedAction {
                    name: c.name.clone(),
                    parameters: c.parameters.clone(),
                }),
                response_contains: Vec::new(),
            }
        })
        .collect();
    ConversationCase {
        name: format!("replay of {}", report.conversation_id),
        metadata: report
            .turns
            .first()
            .map(|t| t.recorded.metadata.clone())
            .unwrap_or_default(),
        turns,
        expect_handoff: report.turns.iter().any(|t| t.recorded.handoff),
        final_memory: report.final_memory.clone(),
    }
}

/// The `conversations` data file for `case`, with the organization's actions (their URLs
/// moved onto the suite's loopback shop: `{backend}` plus the original path).
pub fn regression_file(case: &ConversationCase, actions: &[Action]) -> Value {
    let actions: Vec<Value> = actions
        .iter()
        .map(|a| {
            let path = reqwest::Url::parse(&a.url)
                .map(|u| u.path().to_string())
                .unwrap_or_default();
            json!({
                "name": a.name,
                "description": a.description,
                "parameters": a.parameters,
                "url": format!("{{backend}}{path}"),
                "method": a.method,
                "timeout_ms": a.timeout_ms,
                "kind": a.kind,
                "requires_confirmation": a.requires_confirmation,
                "idempotent": a.idempotent,
                "limits": a.limits,
                "examples": a.examples,
                "intents": a.intents,
                "response_template": a.response_template,
                "sensitive_fields": a.sensitive_fields,
                "enabled": a.enabled,
            })
        })
        .collect();
    json!({ "actions": actions, "cases": [case] })
}

/// Writes the regression case of `report` to `path` (reading the organization's actions from
/// the recorded database).
pub async fn save_case(report: &ReplayReport, database_url: &str, path: &Path) -> Result<()> {
    let source = Store::connect(database_url)
        .await
        .map_err(|e| anyhow!("{}", e.chain()))?;
    let org = OrganizationId::parse(&report.organization_id).map_err(|e| anyhow!("{e}"))?;
    let actions = source
        .list_actions(&org)
        .await
        .map_err(|e| anyhow!("{}", e.chain()))?;
    let file = regression_file(&regression_case(report), &actions);
    let text = serde_json::to_string_pretty(&file)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn trace(message: &str, intent: &str) -> TurnTrace {
        TurnTrace {
            message: message.into(),
            channel: Default::default(),
            requested_language: None,
            metadata: Map::new(),
            language: "en".into(),
            intent: intent.into(),
            confidence: 0.9,
            policy_flags: vec![],
            handoff: false,
            retrieved: vec![],
            cited_documents: vec![],
            actions: vec![],
            action_calls: vec![],
            model_calls: vec![],
            response: "ok".into(),
        }
    }

    fn report(changes: Vec<StageChange>) -> ReplayReport {
        let t = trace("Where is my order?", "order_tracking");
        ReplayReport {
            organization_id: "org_a".into(),
            conversation_id: "conv_b".into(),
            turns: vec![TurnReplay {
                turn: 1,
                message: t.message.clone(),
                changes,
                recorded: t.clone(),
                replayed: t,
            }],
            final_memory: BTreeMap::new(),
        }
    }

    #[test]
    fn exit_code_and_markdown_say_whether_something_changed() {
        let same = report(vec![]);
        assert_eq!(same.exit_code(), 0);
        assert!(same.markdown().contains("unchanged"));
        let changed = report(vec![StageChange {
            stage: "intent".into(),
            recorded: "order_tracking (0.90)".into(),
            replayed: "shipping | x (0.80)".into(),
        }]);
        assert_eq!(changed.exit_code(), 1);
        let md = changed.markdown();
        assert!(
            md.contains("| intent | order_tracking (0.90) | shipping \\| x (0.80) |"),
            "{md}"
        );
    }

    #[test]
    fn the_regression_case_expects_the_recorded_intents_and_no_action() {
        let case = regression_case(&report(vec![]));
        assert_eq!(case.turns.len(), 1);
        assert_eq!(
            case.turns[0].expected_intent.as_deref(),
            Some("order_tracking")
        );
        assert_eq!(case.turns[0].expected_status.as_deref(), Some("none"));
        assert!(case.turns[0].expected_action.is_none());
        let file = regression_file(&case, &[]);
        let parsed: crate::suites::conversations::ConversationSet =
            serde_json::from_value(file).expect("the suite reads it");
        assert_eq!(parsed.cases.len(), 1);
    }
}
