//! The conversation lifecycle: handoff, assignment, human replies, return to the agent,
//! resolve, close, auto-resolve, and the quiet turn while a human holds a conversation.
//!
//! ```text
//!            handoff / engine handoff            assign / human reply
//!   open ───────────────────────────> pending_human ─────────────> human
//!    ^  <──────────── return-to-agent ───────┴──────────────────────┘
//!    │                                        resolve (open, pending_human, human)
//!    └── customer writes again ── resolved <──────────────────────────
//!                                    │ close (also from open, pending_human, human)
//!                                    v
//!                                  closed ── customer writes again ──> open
//! ```
//!
//! The rules ([`plan`]) are pure: they take the state read inside the change's transaction and
//! return the next state, or a 409 naming the impossible transition. The store applies them
//! guarded by the status it read, with the transition log row and the change's events.

use std::time::Duration;

use serde_json::{json, Value};

use crate::agent::Role;
use crate::error::{Error, Result};
use crate::events::{EventType, NewEvent};
use crate::ids::{ConversationId, MessageId, OrganizationId};
use crate::store::conversations::ConversationStatus;
use crate::store::lifecycle::{Change, LifecycleState, Transition};
use crate::store::messages::NewMessage;
use crate::store::{now_ms, Store};

/// Longest human reply accepted, in characters (the customer's limit too).
pub const MAX_REPLY_CHARS: usize = super::chat::MAX_MESSAGE_CHARS;
/// Longest assignee / author name or handoff reason, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Who resolved a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedBy {
    Agent,
    Human,
}

impl ResolvedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ResolvedBy::Agent => "agent",
            ResolvedBy::Human => "human",
        }
    }

    /// Parses `agent` or `human`.
    pub fn parse(raw: &str) -> Result<ResolvedBy> {
        match raw {
            "agent" => Ok(ResolvedBy::Agent),
            "human" => Ok(ResolvedBy::Human),
            _ => Err(Error::unprocessable(
                "resolved_by: must be 'agent' or 'human'",
            )),
        }
    }
}

/// A lifecycle request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Hand the conversation to the human queue (by API, an action policy limit, ...).
    Handoff { reason: String, actor: String },
    /// A named human takes the conversation.
    Assign { assignee: String },
    /// A human writes to the customer.
    HumanReply {
        message_id: MessageId,
        text: String,
        author: String,
    },
    /// Hand the conversation back to the AI agent.
    ReturnToAgent,
    Resolve {
        resolved_by: Option<ResolvedBy>,
        actor: String,
        reason: Option<String>,
    },
    Close {
        resolved_by: Option<ResolvedBy>,
        actor: String,
        reason: Option<String>,
    },
}

impl Action {
    fn verb(&self) -> &'static str {
        match self {
            Action::Handoff { .. } => "hand off",
            Action::Assign { .. } => "assign",
            Action::HumanReply { .. } => "reply as a human to",
            Action::ReturnToAgent => "return to the agent",
            Action::Resolve { .. } => "resolve",
            Action::Close { .. } => "close",
        }
    }
}

/// Computes the change `action` makes to `current` at `at`, or a 409 when the conversation's
/// status does not allow it.
pub fn plan(action: &Action, current: &LifecycleState, at: i64) -> Result<Change> {
    use ConversationStatus::{Closed, Human, Open, PendingHuman, Resolved};
    let mut next = current.clone();
    let mut message = None;
    let mut events = Vec::new();
    let base = event_base(current);
    let refuse = |hint: &str| {
        Error::conflict(format!(
            "cannot {} a conversation that is {}{hint}",
            action.verb(),
            current.status.as_str()
        ))
    };
    let (actor, reason) = match action {
        Action::Handoff { reason, actor } => {
            match current.status {
                Open => {}
                PendingHuman | Human => return Err(refuse(": it is already with the human team")),
                Resolved | Closed => return Err(refuse("")),
            }
            next.status = PendingHuman;
            next.handoff_reason = Some(reason.clone());
            next.handoff_at = Some(at);
            next.handoff_count += 1;
            events.push(event(
                EventType::HandoffRequested,
                with(
                    &base,
                    &[("reason", json!(reason)), ("source", json!(actor))],
                ),
                current,
            ));
            (actor.clone(), Some(reason.clone()))
        }
        Action::Assign { assignee } => {
            match current.status {
                PendingHuman | Human => {}
                Open => {
                    // Taking an agent-handled conversation directly is a handoff too.
                    next.handoff_at = Some(at);
                    next.handoff_count += 1;
                    next.handoff_reason = Some(format!("taken over by {assignee}"));
                }
                Resolved | Closed => return Err(refuse("")),
            }
            next.status = Human;
            next.assignee = Some(assignee.clone());
            next.assigned_at = Some(at);
            (assignee.clone(), Some(format!("assigned to {assignee}")))
        }
        Action::HumanReply {
            message_id,
            text,
            author,
        } => {
            match current.status {
                PendingHuman | Human => {}
                Open => return Err(refuse(": hand it off or assign it first")),
                Resolved | Closed => return Err(refuse("")),
            }
            next.status = Human;
            if next.assignee.is_none() {
                next.assignee = Some(author.clone());
                next.assigned_at = Some(at);
            }
            next.human_replied_at = Some(current.human_replied_at.unwrap_or(at));
            next.first_response_at = Some(current.first_response_at.unwrap_or(at));
            message = Some(NewMessage {
                id: message_id.clone(),
                role: Role::Human,
                text: text.clone(),
                intent: None,
                confidence: None,
                language: None,
                citations_json: "[]".into(),
                actions_json: "[]".into(),
                metadata_json: json!({ "author": author }).to_string(),
                created_at: at,
            });
            events.push(event(
                EventType::MessageSent,
                with(
                    &base,
                    &[
                        ("message_id", json!(message_id.as_str())),
                        ("message", json!(text)),
                        ("agent_response", json!(text)),
                        ("sender", json!("human")),
                        ("author", json!(author)),
                    ],
                ),
                current,
            ));
            (author.clone(), None)
        }
        Action::ReturnToAgent => {
            match current.status {
                PendingHuman | Human => {}
                Open => return Err(refuse(": the agent already handles it")),
                Resolved | Closed => return Err(refuse("")),
            }
            next.status = Open;
            next.assignee = None;
            ("api".to_owned(), Some("returned to the agent".to_owned()))
        }
        Action::Resolve {
            resolved_by,
            actor,
            reason,
        } => {
            match current.status {
                Open | PendingHuman | Human => {}
                Resolved => return Err(refuse(": it is already resolved")),
                Closed => return Err(refuse(": it is closed")),
            }
            let by = resolved_by.unwrap_or_else(|| implied_resolver(current));
            next.status = Resolved;
            next.resolved_at = Some(at);
            next.resolved_by = Some(by.as_str().to_owned());
            events.push(event(
                EventType::ConversationResolved,
                with(
                    &base,
                    &[
                        ("status", json!("resolved")),
                        ("resolved_by", json!(by.as_str())),
                        ("actor", json!(actor)),
                        ("reason", json!(reason)),
                    ],
                ),
                current,
            ));
            (actor.clone(), reason.clone())
        }
        Action::Close {
            resolved_by,
            actor,
            reason,
        } => {
            match current.status {
                Open | PendingHuman | Human | Resolved => {}
                Closed => return Err(refuse(": it is already closed")),
            }
            // A resolved conversation keeps who resolved it; otherwise closing resolves it.
            let by = match (&current.resolved_by, resolved_by) {
                (_, Some(by)) => *by,
                (Some(stored), None) => ResolvedBy::parse(stored).unwrap_or(ResolvedBy::Agent),
                (None, None) => implied_resolver(current),
            };
            next.status = Closed;
            next.closed_at = Some(at);
            next.resolved_at = Some(current.resolved_at.unwrap_or(at));
            next.resolved_by = Some(by.as_str().to_owned());
            events.push(event(
                EventType::ConversationClosed,
                with(
                    &base,
                    &[
                        ("status", json!("closed")),
                        ("resolved_by", json!(by.as_str())),
                        ("actor", json!(actor)),
                        ("reason", json!(reason)),
                    ],
                ),
                current,
            ));
            (actor.clone(), reason.clone())
        }
    };
    Ok(Change {
        next,
        actor,
        reason,
        message,
        events,
        at,
    })
}

/// Who resolved a conversation when the caller does not say: a human when one replied or it
/// was assigned to one, else the agent.
pub fn implied_resolver(state: &LifecycleState) -> ResolvedBy {
    if state.human_replied_at.is_some()
        || state.assignee.is_some()
        || state.status == ConversationStatus::Human
    {
        ResolvedBy::Human
    } else {
        ResolvedBy::Agent
    }
}

/// Applies `action` to the organization's conversation `id` (404 when it has none).
#[tracing::instrument(skip_all, fields(org = %org, conversation = id))]
pub async fn apply(
    store: &Store,
    org: &OrganizationId,
    id: &str,
    action: Action,
) -> Result<LifecycleState> {
    validate(&action)?;
    let id = super::conversations::parse_conversation_id(id)?;
    let at = now_ms();
    store
        .change_lifecycle(org, &id, |current| plan(&action, current, at))
        .await?
        .ok_or_else(|| not_found(&id))
}

/// Hands a conversation to the human queue on behalf of the engine (an action policy limit,
/// repeated low confidence): the seam later issues call.
pub async fn engine_handoff(
    store: &Store,
    org: &OrganizationId,
    id: &ConversationId,
    reason: &str,
) -> Result<LifecycleState> {
    apply(
        store,
        org,
        id.as_str(),
        Action::Handoff {
            reason: reason.to_owned(),
            actor: "agent".to_owned(),
        },
    )
    .await
}

/// Returns the conversation's transition log, oldest first (404 when not the caller's).
pub async fn transitions(store: &Store, org: &OrganizationId, id: &str) -> Result<Vec<Transition>> {
    let id = super::conversations::parse_conversation_id(id)?;
    if store.lifecycle_state(org, &id).await?.is_none() {
        return Err(not_found(&id));
    }
    store.transitions(org, &id).await
}

fn validate(action: &Action) -> Result<()> {
    let name = |field: &str, value: &str| -> Result<()> {
        if value.trim().is_empty() {
            return Err(Error::unprocessable(format!("{field}: must not be empty")));
        }
        if value.chars().count() > MAX_NAME_CHARS {
            return Err(Error::unprocessable(format!(
                "{field}: must be at most {MAX_NAME_CHARS} characters"
            )));
        }
        Ok(())
    };
    match action {
        Action::Handoff { reason, .. } => name("reason", reason),
        Action::Assign { assignee } => name("assignee", assignee),
        Action::HumanReply { text, author, .. } => {
            name("author", author)?;
            if text.trim().is_empty() {
                return Err(Error::unprocessable("text: must not be empty"));
            }
            if text.chars().count() > MAX_REPLY_CHARS {
                return Err(Error::unprocessable(format!(
                    "text: must be at most {MAX_REPLY_CHARS} characters"
                )));
            }
            Ok(())
        }
        Action::ReturnToAgent => Ok(()),
        Action::Resolve { reason, .. } | Action::Close { reason, .. } => match reason {
            Some(reason) => name("reason", reason),
            None => Ok(()),
        },
    }
}

pub(crate) fn not_found(id: &ConversationId) -> Error {
    Error::not_found(format!("no conversation '{id}' in this organization"))
}

/// The fields every lifecycle event carries.
pub(crate) fn event_base(state: &LifecycleState) -> Value {
    json!({
        "conversation_id": state.id.as_str(),
        "session_id": state.id.as_str(),
        "customer_id": state.customer_id,
        "channel": state.channel.as_str(),
    })
}

pub(crate) fn with(base: &Value, fields: &[(&str, Value)]) -> Value {
    let mut data = base.clone();
    if let Some(object) = data.as_object_mut() {
        for (key, value) in fields {
            object.insert((*key).to_owned(), value.clone());
        }
    }
    data
}

pub(crate) fn event(event_type: EventType, data: Value, state: &LifecycleState) -> NewEvent {
    NewEvent {
        event_type,
        data,
        conversation_id: Some(state.id.clone()),
    }
}

/// How the auto-resolver runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoResolveSettings {
    /// Conversations idle longer than this are resolved; `None` turns the sweep off.
    pub after: Option<Duration>,
    /// How often the sweep runs.
    pub interval: Duration,
}

impl Default for AutoResolveSettings {
    /// A day of silence resolves a conversation; the sweep looks once a minute.
    fn default() -> Self {
        AutoResolveSettings {
            after: Some(Duration::from_secs(24 * 60 * 60)),
            interval: Duration::from_secs(60),
        }
    }
}

impl AutoResolveSettings {
    /// Applies `BLAIGENT_AUTO_RESOLVE_AFTER_SECS` (0 turns it off) and
    /// `BLAIGENT_AUTO_RESOLVE_INTERVAL_SECS`, read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        let secs = |name: &str| -> Result<Option<u64>> {
            match get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
            {
                None => Ok(None),
                Some(raw) => raw.parse().map(Some).map_err(|_| {
                    Error::invalid(format!(
                        "{name} must be a whole number of seconds (got '{raw}')"
                    ))
                }),
            }
        };
        if let Some(after) = secs("BLAIGENT_AUTO_RESOLVE_AFTER_SECS")? {
            self.after = (after > 0).then(|| Duration::from_secs(after));
        }
        if let Some(interval) = secs("BLAIGENT_AUTO_RESOLVE_INTERVAL_SECS")? {
            if interval == 0 {
                return Err(Error::invalid(
                    "BLAIGENT_AUTO_RESOLVE_INTERVAL_SECS must be at least 1",
                ));
            }
            self.interval = Duration::from_secs(interval);
        }
        Ok(())
    }
}

/// Conversations resolved per sweep batch; the sweep repeats until none is left.
const AUTO_RESOLVE_BATCH: i64 = 200;

/// Resolves every `open` or `human` conversation idle longer than `after` (the actor is
/// `system`). Conversations waiting for a human (`pending_human`) are left alone: resolving
/// them would hide a customer nobody answered. Returns how many were resolved.
#[tracing::instrument(skip_all)]
pub async fn auto_resolve_idle(store: &Store, after: Duration) -> Result<usize> {
    let after_ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
    let mut resolved = 0;
    loop {
        let idle_before = now_ms().saturating_sub(after_ms);
        let batch = store
            .idle_conversations(idle_before, AUTO_RESOLVE_BATCH)
            .await?;
        let full = batch.len() as i64 == AUTO_RESOLVE_BATCH;
        let mut progressed = false;
        for (org, id) in batch {
            let at = now_ms();
            let reason = format!("idle for more than {} seconds", after.as_secs());
            let outcome = store
                .change_lifecycle(&org, &id, |current| {
                    let action = Action::Resolve {
                        resolved_by: None,
                        actor: "system".into(),
                        reason: Some(reason.clone()),
                    };
                    // A customer may have written since the listing: re-check idleness.
                    if !matches!(
                        current.status,
                        ConversationStatus::Open | ConversationStatus::Human
                    ) || current.last_activity_at >= idle_before
                    {
                        return Err(Error::conflict("no longer idle"));
                    }
                    plan(&action, current, at)
                })
                .await;
            match outcome {
                Ok(Some(_)) => {
                    resolved += 1;
                    progressed = true;
                }
                Ok(None) => {}
                Err(e) if e.kind() == crate::error::ErrorKind::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        if !full || !progressed {
            break;
        }
    }
    if resolved > 0 {
        tracing::info!(resolved, "auto-resolved idle conversations");
    }
    Ok(resolved)
}

/// Starts the background auto-resolver (none when it is turned off). It stops when the
/// returned handle is dropped or aborted.
pub fn spawn_auto_resolver(store: Store, settings: &AutoResolveSettings) -> Option<AbortOnDrop> {
    let after = settings.after?;
    let interval = settings.interval;
    Some(AbortOnDrop::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = auto_resolve_idle(&store, after).await {
                tracing::warn!(error = %e, "auto-resolve sweep failed; retrying next interval");
            }
        }
    }))
}

/// Aborts its task when dropped, so a stopped server stops its sweeps.
#[derive(Debug)]
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    /// Spawns `task` on the current runtime.
    pub fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        AbortOnDrop(tokio::spawn(task))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;

    fn state(status: ConversationStatus) -> LifecycleState {
        LifecycleState {
            id: ConversationId::new(),
            customer_id: "cust_1".into(),
            channel: Channel::Web,
            status,
            intent: None,
            handoff_reason: None,
            assignee: None,
            created_at: 1_000,
            handoff_at: None,
            assigned_at: None,
            resolved_at: None,
            resolved_by: None,
            closed_at: None,
            first_response_at: Some(1_001),
            human_replied_at: None,
            handoff_count: 0,
            reopen_count: 0,
            last_activity_at: 1_001,
        }
    }

    fn resolve() -> Action {
        Action::Resolve {
            resolved_by: None,
            actor: "api".into(),
            reason: None,
        }
    }

    #[test]
    fn a_handoff_queues_an_open_conversation_and_emits_handoff_requested() {
        let action = Action::Handoff {
            reason: "angry".into(),
            actor: "api".into(),
        };
        let change = plan(&action, &state(ConversationStatus::Open), 5_000).unwrap();
        assert_eq!(change.next.status, ConversationStatus::PendingHuman);
        assert_eq!(change.next.handoff_at, Some(5_000));
        assert_eq!(change.next.handoff_count, 1);
        assert_eq!(change.events[0].event_type, EventType::HandoffRequested);
        assert_eq!(change.events[0].data["reason"], "angry");
    }

    #[test]
    fn impossible_transitions_are_conflicts_that_name_the_status() {
        let action = Action::Handoff {
            reason: "x".into(),
            actor: "api".into(),
        };
        let err = plan(&action, &state(ConversationStatus::Human), 1).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Conflict);
        assert!(err.message().contains("that is human"), "{err}");
        let err = plan(&resolve(), &state(ConversationStatus::Closed), 1).unwrap_err();
        assert!(
            err.message()
                .contains("cannot resolve a conversation that is closed"),
            "{err}"
        );
        let reply = Action::HumanReply {
            message_id: MessageId::new(),
            text: "hi".into(),
            author: "a".into(),
        };
        assert!(plan(&reply, &state(ConversationStatus::Open), 1).is_err());
    }

    #[test]
    fn resolving_after_a_human_replied_is_credited_to_the_human() {
        let mut current = state(ConversationStatus::PendingHuman);
        let reply = Action::HumanReply {
            message_id: MessageId::new(),
            text: "On it".into(),
            author: "alice".into(),
        };
        let change = plan(&reply, &current, 2_000).unwrap();
        assert_eq!(change.next.status, ConversationStatus::Human);
        assert_eq!(change.next.assignee.as_deref(), Some("alice"));
        current = change.next;
        let change = plan(&resolve(), &current, 3_000).unwrap();
        assert_eq!(change.next.resolved_by.as_deref(), Some("human"));
        assert_eq!(change.events[0].data["resolved_by"], "human");
    }

    #[test]
    fn resolving_an_agent_handled_conversation_is_credited_to_the_agent_unless_told() {
        let change = plan(&resolve(), &state(ConversationStatus::Open), 2_000).unwrap();
        assert_eq!(change.next.resolved_by.as_deref(), Some("agent"));
        let told = Action::Resolve {
            resolved_by: Some(ResolvedBy::Human),
            actor: "api".into(),
            reason: None,
        };
        let change = plan(&told, &state(ConversationStatus::Open), 2_000).unwrap();
        assert_eq!(change.next.resolved_by.as_deref(), Some("human"));
    }

    #[test]
    fn closing_a_resolved_conversation_keeps_its_resolver_and_resolution_time() {
        let mut current = state(ConversationStatus::Resolved);
        current.resolved_at = Some(4_000);
        current.resolved_by = Some("human".into());
        let close = Action::Close {
            resolved_by: None,
            actor: "api".into(),
            reason: None,
        };
        let change = plan(&close, &current, 9_000).unwrap();
        assert_eq!(change.next.status, ConversationStatus::Closed);
        assert_eq!(change.next.resolved_at, Some(4_000));
        assert_eq!(change.next.resolved_by.as_deref(), Some("human"));
        assert_eq!(change.next.closed_at, Some(9_000));
    }

    #[test]
    fn auto_resolve_settings_read_the_environment_and_zero_turns_it_off() {
        let mut settings = AutoResolveSettings::default();
        settings
            .apply_env(|name| match name {
                "BLAIGENT_AUTO_RESOLVE_AFTER_SECS" => Some("0".into()),
                "BLAIGENT_AUTO_RESOLVE_INTERVAL_SECS" => Some("5".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(settings.after, None);
        assert_eq!(settings.interval, Duration::from_secs(5));
        let err = AutoResolveSettings::default()
            .apply_env(|_| Some("soon".into()))
            .unwrap_err();
        assert!(
            err.message()
                .starts_with("BLAIGENT_AUTO_RESOLVE_AFTER_SECS"),
            "{err}"
        );
    }
}
