//! One chat turn, end to end: validate the request, find or create the customer record, load
//! or start the conversation (checking the monthly quota before any work), run the agent, then
//! store both messages and the conversation's new state in one short transaction.
//!
//! `session_id` is the conversation id (`conv_...`): one handle, shown under both names.

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::agent::{Agent, HistoryMessage, Reply, Role, Turn};
use crate::channel::Channel;
use crate::error::{Error, Result, ResultExt};
use crate::ids::{ConversationId, MessageId, OrganizationId};
use crate::store::conversations::{ConversationStatus, NewConversation, TurnRecord};
use crate::store::events::Subscription;
use crate::store::messages::NewMessage;
use crate::store::orgs::Plan;
use crate::store::usage::{month_period, quota_exhausted};
use crate::store::{now_ms, Store};

/// Longest customer message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// Longest caller-side customer id.
pub const MAX_CUSTOMER_ID_CHARS: usize = 128;
/// Largest `metadata` object, in bytes of compact JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// How many earlier messages the agent sees.
pub const HISTORY_MESSAGES: i64 = 20;
/// New conversations per calendar month on the free plan (unless the organization overrides).
pub const FREE_PLAN_MONTHLY_CONVERSATIONS: i64 = 250;

/// Runs one turn. The production implementation is [`Agent`]; benchmarks of the surrounding
/// plumbing plug in a no-op.
pub trait TurnHandler: Send + Sync {
    fn handle<'a>(&'a self, turn: &'a Turn) -> BoxFuture<'a, Result<Reply>>;
}

impl TurnHandler for Agent {
    fn handle<'a>(&'a self, turn: &'a Turn) -> BoxFuture<'a, Result<Reply>> {
        Box::pin(Agent::handle(self, turn))
    }
}

/// A chat request as the service receives it (already authenticated).
#[derive(Debug, Clone)]
pub struct ChatInput {
    /// The organization named in the request body; must be the caller's.
    pub organization_id: String,
    pub customer_id: String,
    pub message: String,
    pub channel: Channel,
    /// The conversation to continue (`conv_...`); `None` starts a new one.
    pub session_id: Option<String>,
    pub language: Option<String>,
    pub metadata: Map<String, Value>,
}

/// The caller: its organization and that organization's quota.
#[derive(Debug, Clone)]
pub struct ChatCaller {
    pub organization_id: OrganizationId,
    pub plan: Plan,
    pub monthly_conversation_quota: Option<i64>,
}

impl ChatCaller {
    /// The monthly new-conversation quota: the organization's override, else the plan's.
    pub fn quota(&self) -> Option<i64> {
        self.monthly_conversation_quota.or(match self.plan {
            Plan::Free => Some(FREE_PLAN_MONTHLY_CONVERSATIONS),
            _ => None,
        })
    }
}

/// The outcome of one turn.
#[derive(Debug, Clone)]
pub struct ChatOutcome {
    pub reply: Reply,
    pub conversation_id: ConversationId,
    /// The id of the agent's message.
    pub message_id: MessageId,
    pub customer_message_id: MessageId,
    pub new_conversation: bool,
}

/// The conversation a turn continues or starts, and what was read with it.
struct Opening {
    conversation_id: ConversationId,
    /// Set when the turn starts the conversation.
    new_conversation: Option<NewConversation>,
    /// The conversation's latest messages, oldest first.
    history: Vec<HistoryMessage>,
    /// The status the turn's lifecycle changes start from (`Open` for a new conversation).
    status_before: ConversationStatus,
    /// The organization's webhook endpoints when they came with the history (PostgreSQL).
    webhook_subscriptions: Option<Vec<Subscription>>,
}

/// Handles one chat turn for `caller`.
#[tracing::instrument(skip_all, fields(org = %caller.organization_id, conversation))]
pub async fn chat(
    store: &Store,
    agent: &dyn TurnHandler,
    caller: &ChatCaller,
    input: ChatInput,
) -> Result<ChatOutcome> {
    authorize(caller, &input)?;
    let org = &caller.organization_id;
    let customer_record_id = store.ensure_customer(org, &input.customer_id).await?;

    let Opening {
        conversation_id,
        new_conversation,
        history,
        status_before,
        webhook_subscriptions,
    } = match &input.session_id {
        Some(session) => {
            let id = super::conversations::parse_conversation_id(session)
                .map_err(|_| session_not_found(session))?;
            // One read: the history is dropped if the conversation is not this customer's or
            // a human holds it.
            let context = store
                .turn_context(org, &id, HISTORY_MESSAGES)
                .await?
                .filter(|c| c.customer_record_id == customer_record_id)
                .ok_or_else(|| session_not_found(session))?;
            // While a human holds the conversation the agent stays quiet.
            if matches!(
                context.status,
                ConversationStatus::PendingHuman | ConversationStatus::Human
            ) {
                let conversation = store
                    .conversation(org, &id)
                    .await?
                    .ok_or_else(|| session_not_found(session))?;
                return super::inbox::held_turn(store, org, &conversation, &input).await;
            }
            Opening {
                conversation_id: id,
                new_conversation: None,
                history: context.history,
                status_before: context.status,
                webhook_subscriptions: context.webhook_subscriptions,
            }
        }
        None => {
            let quota = caller.quota();
            if let Some(quota) = quota {
                // Early refusal saves the agent's work; the transaction re-checks atomically.
                let now = now_ms();
                let used = store
                    .conversations_in_period(org, &month_period(now))
                    .await?;
                if used >= quota {
                    return Err(quota_exhausted(quota, now));
                }
            }
            Opening {
                conversation_id: ConversationId::new(),
                new_conversation: Some(NewConversation {
                    customer_record_id: customer_record_id.clone(),
                    channel: input.channel,
                    monthly_quota: quota,
                }),
                history: Vec::new(),
                status_before: ConversationStatus::Open,
                webhook_subscriptions: None,
            }
        }
    };
    tracing::Span::current().record("conversation", conversation_id.as_str());

    let config = store.agent_config(org).await?.unwrap_or_default();
    let customer_message_id = MessageId::new();
    let received_at = now_ms();
    let turn = Turn {
        organization_id: org.clone(),
        customer_id: input.customer_id,
        customer_record_id,
        conversation_id: conversation_id.clone(),
        channel: input.channel,
        message: input.message,
        language: input.language,
        metadata: input.metadata,
        history,
        config,
    };
    // Recording (issue 9): one cached lookup; the stages note their data only inside capture.
    let (reply, log) = if store.recording_enabled(org).await? {
        let (reply, log) = crate::agent::recorder::capture(agent.handle(&turn)).await;
        (reply?, Some(log))
    } else {
        (agent.handle(&turn).await?, None)
    };

    let message_id = MessageId::new();
    let record = TurnRecord {
        organization_id: org.clone(),
        conversation_id: conversation_id.clone(),
        customer_message: NewMessage {
            id: customer_message_id.clone(),
            role: Role::Customer,
            text: reply.stored_message.clone(),
            intent: Some(reply.intent.clone()),
            confidence: None,
            language: Some(reply.language.clone()),
            citations_json: "[]".into(),
            actions_json: "[]".into(),
            metadata_json: serde_json::to_string(&turn.metadata)
                .or_internal("encoding the message metadata")?,
            created_at: received_at,
        },
        agent_message: NewMessage {
            id: message_id.clone(),
            role: Role::Agent,
            text: reply.response.clone(),
            intent: Some(reply.intent.clone()),
            confidence: Some(f64::from(reply.confidence)),
            language: Some(reply.language.clone()),
            citations_json: serde_json::to_string(&reply.citations)
                .or_internal("encoding citations")?,
            actions_json: serde_json::to_string(&reply.actions).or_internal("encoding actions")?,
            metadata_json: "{}".into(),
            created_at: now_ms().max(received_at),
        },
        intent: Some(reply.intent.clone()),
        handoff_reason: reply.handoff_reason.clone(),
        handoff: reply.handoff,
        new_conversation: new_conversation.clone(),
        status_before,
        webhook_subscriptions,
        events: crate::events::turn::turn_events(&crate::events::turn::TurnFacts {
            conversation_id: &conversation_id,
            customer_id: &turn.customer_id,
            channel: turn.channel,
            customer_message_id: &customer_message_id,
            agent_message_id: &message_id,
            metadata: &turn.metadata,
            reply: &reply,
        }),
    };
    // Written by its own task inside the store: a client that hangs up while the turn is
    // written cannot stop the write half-way (the agent has answered and may have acted).
    let queued = store.record_turn(record).await?;
    // Every wake-up makes the dispatcher run a claiming write: at hundreds of turns a second
    // an organization without webhooks would keep the writer busy for nothing.
    if queued > 0 {
        crate::events::signal::notify_committed();
    }
    if let Some(log) = log {
        save_recording(store, &turn, &reply, log, &customer_message_id, &message_id).await;
    }
    Ok(ChatOutcome {
        reply,
        conversation_id,
        message_id,
        customer_message_id,
        new_conversation: new_conversation.is_some(),
    })
}

/// Stores the trace of a recorded turn. A failure is logged, never the customer's problem.
async fn save_recording(
    store: &Store,
    turn: &Turn,
    reply: &Reply,
    log: crate::agent::trace::TurnLog,
    customer_message_id: &MessageId,
    message_id: &MessageId,
) {
    let trace = crate::agent::trace::TurnTrace::record(turn, reply, log);
    let new = crate::store::recording::NewTurnRecording {
        organization_id: &turn.organization_id,
        conversation_id: &turn.conversation_id,
        customer_message_id,
        message_id,
        trace: &trace,
    };
    if let Err(e) = store.insert_turn_recording(&new).await {
        tracing::warn!(error = %e.chain(), "storing the turn recording failed");
    }
}

/// Validates the request and checks it is for the caller's organization.
pub fn authorize(caller: &ChatCaller, input: &ChatInput) -> Result<()> {
    validate(input)?;
    if input.organization_id != caller.organization_id.as_str() {
        return Err(Error::forbidden(
            "organization_id does not match the organization of the API key",
        ));
    }
    Ok(())
}

/// Everything [`chat`] would refuse before the agent runs, checked without writing: used by
/// the streaming endpoint, which must answer a client mistake with a plain HTTP error before
/// its `200` and event stream begin.
pub async fn preflight(store: &Store, caller: &ChatCaller, input: &ChatInput) -> Result<()> {
    authorize(caller, input)?;
    let Some(session) = &input.session_id else {
        return Ok(());
    };
    let org = &caller.organization_id;
    let id = super::conversations::parse_conversation_id(session)
        .map_err(|_| session_not_found(session))?;
    let customer = store
        .customer_by_external_id(org, &input.customer_id)
        .await?;
    let owned = match (customer, store.conversation(org, &id).await?) {
        (Some(customer), Some(conversation)) => conversation.customer_record_id == customer,
        _ => false,
    };
    if owned {
        Ok(())
    } else {
        Err(session_not_found(session))
    }
}

fn session_not_found(session: &str) -> Error {
    Error::not_found(format!(
        "session_id: no conversation '{}' for this customer in this organization",
        session.chars().take(40).collect::<String>()
    ))
}

/// Checks the request's fields, naming the first bad one.
pub fn validate(input: &ChatInput) -> Result<()> {
    if input.message.trim().is_empty() {
        return Err(Error::unprocessable("message: must not be empty"));
    }
    if input.message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(Error::unprocessable(format!(
            "message: must be at most {MAX_MESSAGE_CHARS} characters"
        )));
    }
    if input.customer_id.trim().is_empty() {
        return Err(Error::unprocessable("customer_id: must not be empty"));
    }
    if input.customer_id.chars().count() > MAX_CUSTOMER_ID_CHARS {
        return Err(Error::unprocessable(format!(
            "customer_id: must be at most {MAX_CUSTOMER_ID_CHARS} characters"
        )));
    }
    if input.customer_id.chars().any(char::is_control) {
        return Err(Error::unprocessable(
            "customer_id: must not contain control characters",
        ));
    }
    if input.organization_id.trim().is_empty() {
        return Err(Error::unprocessable("organization_id: must not be empty"));
    }
    if let Some(language) = &input.language {
        if !(language.len() == 2 && language.bytes().all(|b| b.is_ascii_lowercase())) {
            return Err(Error::unprocessable(
                "language: must be a two-letter ISO 639-1 code like 'en'",
            ));
        }
    }
    let metadata_len = serde_json::to_string(&input.metadata)
        .or_internal("encoding metadata")?
        .len();
    if metadata_len > MAX_METADATA_BYTES {
        return Err(Error::unprocessable(format!(
            "metadata: must be at most {MAX_METADATA_BYTES} bytes of JSON"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ChatInput {
        ChatInput {
            organization_id: "org_x".into(),
            customer_id: "cust_12345".into(),
            message: "Where is my order?".into(),
            channel: Channel::Web,
            session_id: None,
            language: None,
            metadata: Map::new(),
        }
    }

    #[test]
    fn blank_and_over_long_messages_are_refused_naming_the_field() {
        let err = validate(&ChatInput {
            message: "   ".into(),
            ..input()
        })
        .unwrap_err();
        assert_eq!(err.message(), "message: must not be empty");
        let long = "a".repeat(MAX_MESSAGE_CHARS + 1);
        let err = validate(&ChatInput {
            message: long,
            ..input()
        })
        .unwrap_err();
        assert!(err.message().starts_with("message:"), "{err}");
    }

    #[test]
    fn languages_must_be_two_lowercase_letters() {
        assert!(validate(&ChatInput {
            language: Some("en".into()),
            ..input()
        })
        .is_ok());
        let err = validate(&ChatInput {
            language: Some("eng".into()),
            ..input()
        })
        .unwrap_err();
        assert!(err.message().starts_with("language:"), "{err}");
    }

    #[test]
    fn the_free_plan_has_the_documented_quota_unless_overridden() {
        let mut caller = ChatCaller {
            organization_id: OrganizationId::new(),
            plan: Plan::Free,
            monthly_conversation_quota: None,
        };
        assert_eq!(caller.quota(), Some(250));
        caller.monthly_conversation_quota = Some(3);
        assert_eq!(caller.quota(), Some(3));
        caller.plan = Plan::Growth;
        caller.monthly_conversation_quota = None;
        assert_eq!(caller.quota(), None);
    }
}
