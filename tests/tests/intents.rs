//! `/api/v1/dashboard/intents` over real HTTP, and the organization's classifier following
//! the changes without a restart (real embedding model, real database, both backends).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};

use engine::embed::local::LocalEmbedder;
use engine::embed::Embedder;
use engine::ids::OrganizationId;
use engine::intent::tuner::TunerSettings;
use engine::intent::IntentService;
use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, spawn_app_with, Backend, TestApp};

fn embedder() -> Arc<dyn Embedder> {
    static EMBEDDER: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            Arc::new(LocalEmbedder::load_default().expect("run scripts/setup-models.sh"))
        })
        .clone()
}

async fn intents_are_listed_created_replaced_deleted_and_reset(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, listed) = send_json(app.get("/api/v1/dashboard/intents")).await;
    assert_eq!(status, 200, "{listed}");
    let labels: Vec<&str> = listed["intents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for required in [
        "order_tracking",
        "refund_request",
        "human_handoff",
        "greeting",
        "other",
    ] {
        assert!(
            labels.contains(&required),
            "{required} missing from {labels:?}"
        );
    }
    assert!(listed["intents"][0]["example_count"].as_u64().unwrap() >= 15);
    assert_eq!(listed["intents"][0]["source"], "default");

    let (status, created) = send_json(app.post("/api/v1/dashboard/intents").json(&json!({
        "label": "loyalty_points",
        "description": "Questions about the loyalty programme",
        "examples": ["How many points do I have?", "check my loyalty balance", " check my loyalty balance "],
    })))
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["source"], "custom");
    assert_eq!(
        created["example_count"], 2,
        "duplicates are dropped: {created}"
    );

    let put = app
        .client
        .put(app.url("/api/v1/dashboard/intents/booking"))
        .bearer_auth(&app.api_key)
        .json(&json!({"examples": ["book a tennis court", "reserve a court for Sunday"]}));
    let (status, replaced) = send_json(put).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["source"], "replaced");
    assert_eq!(
        replaced["examples"],
        json!(["book a tennis court", "reserve a court for Sunday"])
    );

    for bad in [
        json!({"label": "Loyalty Points", "examples": ["x"]}),
        json!({"label": "empty", "examples": [" "]}),
        json!({"label": "x", "examples": ["y"], "colour": "red"}),
    ] {
        let (status, body) = send_json(app.post("/api/v1/dashboard/intents").json(&bad)).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }

    let response = app
        .delete("/api/v1/dashboard/intents/newsletter")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .delete("/api/v1/dashboard/intents/newsletter")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let (_, listed) = send_json(app.get("/api/v1/dashboard/intents")).await;
    let has = |label: &str| {
        listed["intents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["label"] == label)
    };
    assert!(!has("newsletter") && has("loyalty_points"));

    let (status, reset) = send_json(app.post("/api/v1/dashboard/intents/reset")).await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["discarded_changes"], 3);
    let labels: Vec<&str> = reset["intents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"newsletter") && !labels.contains(&"loyalty_points"));

    // Without an API key the endpoint refuses.
    let response = app
        .client
        .get(app.url("/api/v1/dashboard/intents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// Adds a custom `loyalty_points` intent to the default organization's set.
async fn add_loyalty_intent(app: &TestApp) {
    let (status, body) = send_json(app.post("/api/v1/dashboard/intents").json(&json!({
        "label": "loyalty_points",
        "examples": [
            "How many points do I have?", "check my loyalty balance", "what is my points balance",
            "how do I redeem my reward points", "did I earn points on my last order",
            "my loyalty points are missing", "when do my points expire",
        ],
    })))
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn the_classifier_follows_intent_changes_without_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let org = OrganizationId::parse(&app.org_id).unwrap();
    let service = IntentService::new(app.state.store.clone(), embedder());
    let message = "how many loyalty points have I collected so far?";

    let before = service
        .classify(&org, "where is my parcel? it has not arrived")
        .await
        .unwrap();
    assert_eq!(before.label, "order_tracking", "{before:?}");
    let before = service.classify(&org, message).await.unwrap();
    assert_ne!(before.label, "loyalty_points");

    add_loyalty_intent(&app).await;
    let after = service.classify(&org, message).await.unwrap();
    assert_eq!(after.label, "loyalty_points", "{after:?}");
    assert!(after.confidence > 0.5 && !after.out_of_scope, "{after:?}");

    let (status, _) = send_json(app.post("/api/v1/dashboard/intents/reset")).await;
    assert_eq!(status, 200);
    let reset = service.classify(&org, message).await.unwrap();
    assert_ne!(reset.label, "loyalty_points", "{reset:?}");
}

/// Polls the intent list until the set's tuning is `ready` (or failed) and returns its
/// `tuning` object. Tuning runs at idle priority, so beside busy tests it waits for them.
async fn tuning_when_done(app: &TestApp) -> Value {
    for _ in 0..1_200 {
        let (status, listed) = send_json(app.get("/api/v1/dashboard/intents")).await;
        assert_eq!(status, 200, "{listed}");
        let tuning = listed["tuning"].clone();
        match tuning["state"].as_str() {
            Some("queued" | "tuning") => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            _ => return tuning,
        }
    }
    panic!("the intent set was not tuned within ten minutes");
}

async fn loyalty_intent(app: &TestApp, customer: &str) -> Value {
    let (status, reply) = app
        .chat(
            customer,
            "how many loyalty points have I collected so far?",
            None,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    reply["intent"].clone()
}

/// Tuning on (the `serve` default), with a short schedule: the organization's edited set gets
/// a fine-tuned encoder in the background while the frozen classifier answers, the list says
/// where it stands, and after a restart the saved model is loaded rather than tuned again.
#[tokio::test]
async fn an_edited_intent_set_gets_a_tuned_encoder_in_the_background() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.intent_tuning = Some(TunerSettings::short_schedule());
    })
    .await;
    add_loyalty_intent(&app).await;
    // Meanwhile the frozen classifier answers.
    assert_eq!(loyalty_intent(&app, "cus_tuning_1").await, "loyalty_points");

    let tuning = tuning_when_done(&app).await;
    assert_eq!(tuning["state"], "ready", "{tuning}");
    assert_eq!(tuning["origin"], "tuned", "{tuning}");
    assert!(
        tuning["finished_at"].as_str().unwrap().ends_with('Z'),
        "{tuning}"
    );
    let saved = std::fs::read_dir(app.db.dir.path().join("intent-models"))
        .expect("tuned models are saved in the data folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "onnx"))
        })
        .count();
    assert!(saved >= 1, "{saved} saved models");
    assert_eq!(loyalty_intent(&app, "cus_tuning_2").await, "loyalty_points");

    let app = app.restart().await;
    let tuning = tuning_when_done(&app).await;
    assert_eq!(tuning["state"], "ready", "{tuning}");
    assert_eq!(tuning["origin"], "loaded", "{tuning}");
    assert_eq!(loyalty_intent(&app, "cus_tuning_3").await, "loyalty_points");
}

#[tokio::test]
async fn without_tuning_the_list_says_it_is_off() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, listed) = send_json(app.get("/api/v1/dashboard/intents")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["tuning"], json!({"state": "off"}));
}

both_backends!(
    intents_are_listed_created_replaced_deleted_and_reset,
    the_classifier_follows_intent_changes_without_a_restart,
);
