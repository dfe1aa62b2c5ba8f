//! The chat contract: a reply with ids, continuing a session, the stored thread.

use serde_json::json;
use tests::{both_backends, send_json, spawn_app, Backend, CHAT};

async fn a_chat_starts_a_conversation_and_the_session_continues_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, first) = send_json(app.post(CHAT).json(&json!({
        "message": "Where is my order?",
        "customer_id": "cust_12345",
        "channel": "whatsapp",
        "organization_id": app.org_id,
        "language": "en",
        "metadata": {"order_hint": "A-100", "page": "/orders"},
    })))
    .await;
    assert_eq!(status, 200, "{first}");
    for field in [
        "response",
        "intent",
        "session_id",
        "conversation_id",
        "message_id",
        "language",
    ] {
        assert!(first[field].is_string(), "{field} missing in {first}");
    }
    assert!(first["confidence"].is_number(), "{first}");
    assert!(
        first["citations"].is_array() && first["actions"].is_array(),
        "{first}"
    );
    assert!(first["handoff"].is_boolean(), "{first}");
    let session = first["session_id"].as_str().unwrap();
    assert!(session.starts_with("conv_"), "{session}");
    assert_eq!(first["conversation_id"], first["session_id"]);

    let (status, second) = app.chat("cust_12345", "Any news?", Some(session)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["session_id"], session);
    assert_ne!(second["message_id"], first["message_id"]);

    let (status, thread) = send_json(app.get(&format!(
        "/api/v1/platform/conversations/{session}/messages"
    )))
    .await;
    assert_eq!(status, 200, "{thread}");
    let messages = thread["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["customer", "agent", "customer", "agent"]);
    assert_eq!(messages[0]["text"], "Where is my order?");
    assert_eq!(messages[0]["metadata"]["order_hint"], "A-100");
    assert_eq!(messages[1]["id"], first["message_id"]);
    assert_eq!(messages[1]["text"], first["response"]);
    assert!(messages[1]["intent"].is_string() && messages[1]["created_at"].is_string());

    let (status, conversation) =
        send_json(app.get(&format!("/api/v1/platform/conversations/{session}"))).await;
    assert_eq!(status, 200);
    assert_eq!(conversation["customer_id"], "cust_12345");
    assert_eq!(conversation["channel"], "whatsapp");
    // The agent may hand the conversation to a human; the status follows its replies.
    let expected = if first["handoff"] == true || second["handoff"] == true {
        "pending_human"
    } else {
        "open"
    };
    assert_eq!(conversation["status"], expected, "{first} {second}");
    assert_eq!(conversation["message_count"], 4);
}

async fn an_unknown_session_is_404_and_the_channel_defaults_to_web(backend: Backend) {
    let app = spawn_app(backend).await;
    for session in [
        "conv_01jzzzzzzzzzzzzzzzzzzzzzzz",
        "sess_abc123",
        "../../etc",
    ] {
        let (status, body) = app.chat("c", "hello", Some(session)).await;
        assert_eq!(status, 404, "{session}: {body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with("session_id"),
            "{body}"
        );
    }
    let (status, reply) = app.chat("c", "hello", None).await;
    assert_eq!(status, 200);
    let id = reply["conversation_id"].as_str().unwrap();
    let (_, conversation) =
        send_json(app.get(&format!("/api/v1/platform/conversations/{id}"))).await;
    assert_eq!(conversation["channel"], "web");

    // A session belongs to its customer: another customer cannot continue it.
    let (status, _) = app.chat("someone-else", "hi", Some(id)).await;
    assert_eq!(status, 404);
}

both_backends!(
    a_chat_starts_a_conversation_and_the_session_continues_it,
    an_unknown_session_is_404_and_the_channel_defaults_to_web,
);
