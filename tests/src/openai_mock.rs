//! A loopback server speaking the OpenAI chat-completions wire format
//! (`POST /v1/chat/completions`), for tests of the language-model path: plain and streamed
//! (server-sent `chat.completion.chunk` events ending with `data: [DONE]`) answers, HTTP
//! errors with OpenAI's error body, slow answers for timeouts, and tool calls (`tool_calls`
//! with raw argument text, valid or not). Every request body is
//! recorded so tests can check the prompt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the mock answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answers with this text (streamed word by word when the request asks to stream).
    Answer(String),
    /// Fails with this HTTP status and an OpenAI error body of this `type`.
    Fail {
        status: u16,
        error_type: Option<String>,
    },
    /// Waits this long, then answers.
    Slow(Duration, String),
    /// To a request that offers `tools`: a call of the tool `name` with `arguments` (raw
    /// text, so tests can send invalid JSON); to any other request: `text`.
    ToolCall {
        name: String,
        arguments: String,
        text: String,
    },
}

#[derive(Debug)]
struct Shared {
    behavior: Mutex<Behavior>,
    requests: Mutex<Vec<Value>>,
}

/// A running mock; stops when dropped.
#[derive(Debug)]
pub struct OpenAiMock {
    /// The base URL to configure (`http://127.0.0.1:PORT/v1`).
    pub base_url: String,
    shared: Arc<Shared>,
    _server: crate::loopback::LoopbackServer,
}

impl OpenAiMock {
    /// Starts the mock on `127.0.0.1:0`.
    pub async fn start(behavior: Behavior) -> OpenAiMock {
        let shared = Arc::new(Shared {
            behavior: Mutex::new(behavior),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let server = crate::loopback::LoopbackServer::start(app, "the OpenAI mock").await;
        OpenAiMock {
            base_url: format!("{}/v1", server.base_url()),
            shared,
            _server: server,
        }
    }

    /// Changes what the mock answers from now on.
    pub fn set(&self, behavior: Behavior) {
        *self
            .shared
            .behavior
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = behavior;
    }

    /// The JSON bodies received so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The system message of the last request.
    pub fn last_system_prompt(&self) -> Option<String> {
        self.requests().last().and_then(|r| {
            r["messages"]
                .as_array()?
                .iter()
                .find(|m| m["role"] == "system")
                .and_then(|m| m["content"].as_str().map(str::to_string))
        })
    }
}

fn completion(model: &str, text: &str) -> Value {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_700_000_000u32,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    })
}

fn tool_call(model: &str, name: &str, arguments: &str) -> Value {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_700_000_000u32,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": "call_mock",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments}
                }]
            },
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    })
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> String {
    let body = json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000u32,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    format!("data: {body}\n\n")
}

/// The answer split into word-sized deltas, as a model would stream it.
fn stream_body(model: &str, text: &str) -> String {
    let mut out = chunk(model, json!({"role": "assistant", "content": ""}), None);
    let mut first = true;
    for word in text.split(' ') {
        let piece = if first {
            word.to_string()
        } else {
            format!(" {word}")
        };
        first = false;
        out.push_str(&chunk(model, json!({"content": piece}), None));
    }
    out.push_str(&chunk(model, json!({}), Some("stop")));
    out.push_str("data: [DONE]\n\n");
    out
}

fn answer(model: &str, text: &str, stream: bool) -> Response {
    if stream {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from(stream_body(model, text)))
            .unwrap_or_else(|e| panic!("building the mock response: {e}"))
    } else {
        Json(completion(model, text)).into_response()
    }
}

async fn completions(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    shared
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(body.clone());
    let model = body["model"].as_str().unwrap_or("mock").to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let behavior = shared
        .behavior
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match behavior {
        Behavior::Answer(text) => answer(&model, &text, stream),
        Behavior::ToolCall {
            name,
            arguments,
            text,
        } => {
            if body.get("tools").is_some_and(|t| !t.is_null()) {
                Json(tool_call(&model, &name, &arguments)).into_response()
            } else {
                answer(&model, &text, stream)
            }
        }
        Behavior::Slow(delay, text) => {
            tokio::time::sleep(delay).await;
            answer(&model, &text, stream)
        }
        Behavior::Fail { status, error_type } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({"error": {
                "message": "mock failure",
                "type": error_type,
                "param": null,
                "code": null
            }});
            (status, Json(body)).into_response()
        }
    }
}
