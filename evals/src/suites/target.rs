//! Where the whole-agent suites send their messages: the engine's [`Agent`] in-process, or a
//! running `blaigent` over HTTP (`--server URL --api-key KEY`, the chat endpoint
//! `POST /api/v1/agents/customer-service/chat`). Both give back the same [`Answer`], built
//! only from what the chat API returns, so a suite scores both the same way.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use engine::agent::{Agent, Turn};
use engine::channel::Channel;
use engine::config::AgentConfig;
use engine::ids::{ConversationId, CustomerRecordId, OrganizationId};
use serde::Deserialize;

/// What a turn gave back, as the chat API shows it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Answer {
    pub response: String,
    pub intent: String,
    pub confidence: f32,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub citations: Vec<Cited>,
    pub handoff: bool,
    #[serde(default)]
    pub flags: Vec<String>,
}

/// A citation of an answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Cited {
    pub document_id: String,
    pub title: String,
    pub snippet: String,
}

/// A running server and its credentials.
#[derive(Debug, Clone)]
pub struct Server {
    pub base_url: String,
    pub api_key: String,
    client: reqwest::Client,
    organization_id: String,
}

impl Server {
    /// A client of the server at `base_url` for the organization of `api_key`.
    pub fn connect(base_url: &str, api_key: &str, organization: &str) -> Result<Self> {
        if !organization.starts_with(OrganizationId::PREFIX) {
            bail!("--organization must be the API key's organization id (org_...)");
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        let organization_id = organization.to_owned();
        Ok(Self {
            base_url,
            api_key: api_key.to_owned(),
            client,
            organization_id,
        })
    }

    /// Sends one message as a new conversation of `customer`.
    pub async fn chat(&self, customer: &str, message: &str) -> Result<Answer> {
        let url = format!("{}/api/v1/agents/customer-service/chat", self.base_url);
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.api_key)
            .json(&serde_json::json!({
                "message": message,
                "customer_id": customer,
                "organization_id": self.organization_id,
            }))
            .send()
            .await
            .with_context(|| format!("posting to {url}"))?;
        let status = response.status();
        let body = response.text().await.context("reading the chat reply")?;
        if !status.is_success() {
            bail!("{url} answered {status}: {body}");
        }
        serde_json::from_str(&body).with_context(|| format!("parsing the chat reply {body}"))
    }
}

/// The engine in-process.
pub struct InProcess {
    pub agent: Arc<Agent>,
    pub config: AgentConfig,
    pub organization_id: OrganizationId,
}

impl InProcess {
    /// Runs one turn as a new conversation.
    pub async fn chat(&self, customer: &str, message: &str) -> Result<Answer> {
        Ok(self.chat_stored(customer, message).await?.0)
    }

    /// [`InProcess::chat`], with the customer's message as it would be stored.
    pub async fn chat_stored(&self, customer: &str, message: &str) -> Result<(Answer, String)> {
        let turn = Turn {
            organization_id: self.organization_id.clone(),
            customer_id: customer.to_owned(),
            customer_record_id: CustomerRecordId::from_trusted(format!("cust_{customer}")),
            conversation_id: ConversationId::new(),
            channel: Channel::Web,
            message: message.to_owned(),
            language: None,
            metadata: serde_json::Map::new(),
            history: Vec::new(),
            config: self.config.clone(),
        };
        let reply = self
            .agent
            .handle(&turn)
            .await
            .map_err(|e| anyhow!("{}", e.chain()))
            .context("the agent failed a turn")?;
        let answer = Answer {
            response: reply.response,
            intent: reply.intent,
            confidence: reply.confidence,
            language: reply.language,
            citations: reply
                .citations
                .into_iter()
                .map(|c| Cited {
                    document_id: c.document_id.into_string(),
                    title: c.title,
                    snippet: c.snippet,
                })
                .collect(),
            handoff: reply.handoff,
            flags: reply.flags,
        };
        Ok((answer, reply.stored_message))
    }
}

/// One of the two.
pub enum Target {
    InProcess(Box<InProcess>),
    Server(Server),
}

impl Target {
    pub async fn chat(&self, customer: &str, message: &str) -> Result<Answer> {
        match self {
            Target::InProcess(t) => t.chat(customer, message).await,
            Target::Server(s) => s.chat(customer, message).await,
        }
    }

    /// `in-process` or the server's address, for reports.
    pub fn describe(&self) -> String {
        match self {
            Target::InProcess(_) => "in-process".into(),
            Target::Server(s) => s.base_url.clone(),
        }
    }
}

/// A multi-threaded runtime for the suites that drive async engine code from the sync CLI.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
