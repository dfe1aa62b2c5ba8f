//! An OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, llama.cpp server, ...)
//! through `async-openai`, configured by `BLAIGENT_LLM_BASE_URL`, `BLAIGENT_LLM_MODEL` and
//! optionally `BLAIGENT_LLM_API_KEY` and `BLAIGENT_LLM_TIMEOUT_SECS` (default 20).
//!
//! async-openai retries 5xx and 429 with exponential backoff for up to 15 minutes by default;
//! here retries are off (the agent falls back to the offline responder instead of keeping the
//! customer waiting) and every request is bounded by the timeout.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
};
use async_openai::Client;
use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{ChatModel, ChatRequest, ModelError, ToolCall, ToolRequest};
use crate::error::{Error, Result};

/// Default request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound on answer length (tokens); customer-service answers are short.
const MAX_COMPLETION_TOKENS: u32 = 400;
/// Low temperature: answers should follow the passages, not be creative.
const TEMPERATURE: f32 = 0.2;

/// Settings of the OpenAI-compatible endpoint.
#[derive(Clone)]
pub struct OpenAiSettings {
    /// e.g. `http://127.0.0.1:8000/v1`
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl OpenAiSettings {
    /// Reads the settings from the environment; `None` when no model is configured (the
    /// default: the offline responder answers).
    pub fn from_env() -> Result<Option<Self>> {
        let base_url = std::env::var("BLAIGENT_LLM_BASE_URL")
            .ok()
            .filter(|v| !v.is_empty());
        let model = std::env::var("BLAIGENT_LLM_MODEL")
            .ok()
            .filter(|v| !v.is_empty());
        let (base_url, model) =
            match (base_url, model) {
                (Some(b), Some(m)) => (b, m),
                (None, None) => return Ok(None),
                _ => return Err(Error::invalid(
                    "set both BLAIGENT_LLM_BASE_URL and BLAIGENT_LLM_MODEL to use a language model",
                )),
            };
        let timeout = match std::env::var("BLAIGENT_LLM_TIMEOUT_SECS") {
            Ok(raw) => Duration::from_secs_f64(raw.parse::<f64>().map_err(|_| {
                Error::invalid("BLAIGENT_LLM_TIMEOUT_SECS must be a number of seconds")
            })?),
            Err(_) => DEFAULT_TIMEOUT,
        };
        Ok(Some(Self {
            base_url,
            model,
            api_key: std::env::var("BLAIGENT_LLM_API_KEY")
                .ok()
                .filter(|v| !v.is_empty()),
            timeout,
        }))
    }
}

/// The OpenAI-compatible chat model.
pub struct OpenAiChatModel {
    client: Client<OpenAIConfig>,
    model: String,
    timeout: Duration,
}

impl OpenAiChatModel {
    /// Builds the client (no request is made).
    pub fn new(settings: OpenAiSettings) -> Result<Self> {
        let mut config = OpenAIConfig::new().with_api_base(settings.base_url.trim_end_matches('/'));
        // Local servers often need no key; async-openai then sends an empty bearer token.
        config = config.with_api_key(settings.api_key.unwrap_or_default());
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::internal("could not build the model HTTP client").with_source(e))?;
        let no_retries = backoff::ExponentialBackoff {
            max_elapsed_time: Some(Duration::ZERO),
            ..backoff::ExponentialBackoff::default()
        };
        let client = Client::with_config(config)
            .with_http_client(http)
            .with_backoff(no_retries);
        Ok(Self {
            client,
            model: settings.model,
            timeout: settings.timeout,
        })
    }

    fn request(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> std::result::Result<CreateChatCompletionRequest, ModelError> {
        let system = ChatCompletionRequestSystemMessageArgs::default()
            .content(request.system.clone())
            .build()
            .map_err(classify)?;
        let user = ChatCompletionRequestUserMessageArgs::default()
            .content(request.user.clone())
            .build()
            .map_err(classify)?;
        CreateChatCompletionRequestArgs::default()
            .model(self.model.clone())
            .messages(vec![system.into(), user.into()])
            .temperature(TEMPERATURE)
            .max_completion_tokens(MAX_COMPLETION_TOKENS)
            .stream(stream)
            .build()
            .map_err(classify)
    }
}

/// Sorts an async-openai error into transient or permanent.
fn classify(error: OpenAIError) -> ModelError {
    match &error {
        OpenAIError::Reqwest(e) => {
            let status_transient = e
                .status()
                .is_some_and(|s| s.is_server_error() || s.as_u16() == 429);
            if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || status_transient
            {
                ModelError::Transient(error.to_string())
            } else {
                ModelError::Permanent(error.to_string())
            }
        }
        // Without retries, 5xx and 429 surface as API errors; 4xx other than 429 are
        // permanent, but async-openai does not keep the status, so the error type decides.
        OpenAIError::ApiError(api) => {
            let kind = api.r#type.as_deref().unwrap_or_default();
            if api.r#type.is_none()
                || kind.contains("rate_limit")
                || kind.contains("server_error")
                || kind.contains("overloaded")
                || kind.contains("timeout")
            {
                ModelError::Transient(error.to_string())
            } else {
                ModelError::Permanent(error.to_string())
            }
        }
        OpenAIError::StreamError(_) | OpenAIError::JSONDeserialize(_) => {
            ModelError::Transient(error.to_string())
        }
        _ => ModelError::Permanent(error.to_string()),
    }
}

#[async_trait]
impl ChatModel for OpenAiChatModel {
    fn model_name(&self) -> &str {
        &self.model
    }

    #[tracing::instrument(skip_all, fields(model = %self.model))]
    async fn complete(&self, request: &ChatRequest) -> std::result::Result<String, ModelError> {
        let body = self.request(request, false)?;
        let chat = self.client.chat();
        let response = tokio::time::timeout(self.timeout, chat.create(body))
            .await
            .map_err(|_| ModelError::Transient("the model did not answer in time".into()))?
            .map_err(classify)?;
        response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| ModelError::Transient("the model returned an empty answer".into()))
    }

    #[tracing::instrument(skip_all, fields(model = %self.model))]
    async fn stream(
        &self,
        request: &ChatRequest,
        deltas: mpsc::Sender<String>,
    ) -> std::result::Result<String, ModelError> {
        let body = self.request(request, true)?;
        let work = async {
            let chat = self.client.chat();
            let mut stream = chat.create_stream(body).await.map_err(classify)?;
            let mut full = String::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(classify)?;
                for choice in chunk.choices {
                    if let Some(text) = choice.delta.content {
                        if !text.is_empty() {
                            full.push_str(&text);
                            // The receiver may be gone (client disconnected); keep the answer.
                            let _ = deltas.send(text).await;
                        }
                    }
                }
            }
            if full.trim().is_empty() {
                return Err(ModelError::Transient(
                    "the model streamed an empty answer".into(),
                ));
            }
            Ok(full)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| ModelError::Transient("the model did not finish in time".into()))?
    }

    #[tracing::instrument(skip_all, fields(model = %self.model, tools = request.tools.len()))]
    async fn choose_tool(
        &self,
        request: &ToolRequest,
    ) -> std::result::Result<Option<ToolCall>, ModelError> {
        let body = super::openai_tools::request(&self.model, request).map_err(classify)?;
        let chat = self.client.chat();
        let response = tokio::time::timeout(self.timeout, chat.create(body))
            .await
            .map_err(|_| ModelError::Transient("the model did not answer in time".into()))?
            .map_err(classify)?;
        Ok(super::openai_tools::first_call(response))
    }
}
