//! The language model down (connection refused), slow (past `BLAIGENT_LLM_TIMEOUT_SECS`) or
//! failing (500, 429): the customer gets the offline responder's grounded answer, with its
//! citation, within the timeout and a small margin, as JSON and as a stream, with no word of
//! the fault; the log line of that request says the model failed and the offline responder
//! answered instead.

use std::time::Duration;

use api::Config;
use engine::llm::openai::OpenAiSettings;
use tests::openai_mock::{Behavior, OpenAiMock};
use tests::{both_backends, spawn_app_with, Backend};

use super::support::{
    assert_no_fault_wording, citation_titles, closed_port, logs, request_id, text, upload_shop,
    Server, Target,
};

/// The model's deadline in this suite.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// What a turn may add to the timeout: the turn's own work (classification, retrieval, the
/// offline answer, the database writes), a few hundred milliseconds on a busy machine.
const MARGIN: Duration = Duration::from_millis(1500);

const QUESTION: &str = "How long does it take to get my refund?";
/// The fact of the "Refund policy" document the grounded answer must carry.
const FACT: &str = "within 5 business days";
/// What the offline responder logs when it takes over.
const FELL_BACK: &str = "the offline responder answers instead";

const MODEL_ANSWER: &str = "Refunds are paid to your original payment method within 5 business days after the return arrives at our warehouse [1].";

fn with_model(base_url: String) -> impl Fn(&mut Config) + Send + Sync + 'static {
    move |config| {
        config.llm = Some(OpenAiSettings {
            base_url: base_url.clone(),
            model: "mock-model".into(),
            api_key: Some("test-key".into()),
            timeout: TIMEOUT,
        });
    }
}

/// Asks the refund question as JSON and as a stream through `target` and checks what the
/// customer sees, how long it took, and what the log says.
async fn assert_falls_back(target: &Target<'_>, step: &str) {
    let rid = request_id(step);
    let (reply, took) = target.chat("cust-fault", QUESTION, &rid).await;
    assert!(text(&reply).contains(FACT), "{step}: {reply}");
    assert_eq!(
        citation_titles(&reply),
        vec!["Refund policy"],
        "{step}: {reply}"
    );
    assert_no_fault_wording(text(&reply));
    assert!(
        took < TIMEOUT + MARGIN,
        "{step}: the answer took {took:?} (timeout {TIMEOUT:?})"
    );
    logs().wait_for(&rid, FELL_BACK).await;
    eprintln!("llm fault {step}: JSON answer in {took:?}");

    let rid = request_id(&format!("{step}-stream"));
    let fell_back_before = logs().count(FELL_BACK);
    let (events, took) = target.stream("cust-fault", QUESTION, &rid).await;
    assert!(
        events.iter().all(|(name, _)| name != "error"),
        "{step}: {events:?}"
    );
    let (last, final_body) = events.last().expect("events");
    assert_eq!(last, "final", "{step}: {events:?}");
    assert!(text(final_body).contains(FACT), "{step}: {final_body}");
    assert_eq!(citation_titles(final_body), vec!["Refund policy"]);
    assert_no_fault_wording(text(final_body));
    // Everything streamed before the final event is the same grounded answer, nothing else.
    let streamed: Vec<&str> = events
        .iter()
        .filter(|(name, _)| name == "sentence" || name == "delta")
        .map(|(_, data)| data["text"].as_str().unwrap_or_default())
        .collect();
    assert!(!streamed.is_empty(), "{step}: {events:?}");
    for piece in &streamed {
        assert_no_fault_wording(piece);
    }
    assert!(
        took < TIMEOUT + MARGIN,
        "{step}: the stream took {took:?} (timeout {TIMEOUT:?})"
    );
    // A streamed turn runs outside the request's span (its log lines carry no request id),
    // so the check is that a new fallback line appeared.
    logs().wait_for_more(FELL_BACK, fell_back_before).await;
    eprintln!("llm fault {step}: streamed answer in {took:?}");
}

async fn the_offline_responder_answers_when_the_model_is_down_slow_or_failing(backend: Backend) {
    logs();
    let mock = OpenAiMock::start(Behavior::Answer(MODEL_ANSWER.into())).await;
    let app = spawn_app_with(backend, with_model(mock.base_url.clone())).await;
    upload_shop(&app).await;
    let target = Target::of(&app);

    // The model path is on: a healthy model writes the answer (and warms the turn up).
    let rid = request_id("healthy");
    let (reply, _) = target.chat("cust-fault", QUESTION, &rid).await;
    assert!(text(&reply).contains(FACT), "{reply}");
    assert_eq!(mock.requests().len(), 1, "the model was asked");
    assert!(
        logs()
            .of_request(&rid)
            .iter()
            .all(|line| !line.contains(FELL_BACK)),
        "a healthy model is not replaced"
    );

    mock.set(Behavior::Fail {
        status: 500,
        error_type: Some("server_error".into()),
    });
    assert_falls_back(&target, "http-500").await;

    mock.set(Behavior::Fail {
        status: 429,
        error_type: Some("rate_limit_exceeded".into()),
    });
    assert_falls_back(&target, "http-429").await;

    mock.set(Behavior::Slow(Duration::from_secs(10), MODEL_ANSWER.into()));
    assert_falls_back(&target, "slow").await;

    // Down: a second server on the same data whose model endpoint refuses connections.
    let port = closed_port().await;
    let down = Server::start(
        &app,
        with_model(format!("http://127.0.0.1:{port}/v1")),
        async |state| state,
    )
    .await;
    let target = Target::on(&down, &app);
    // The first turn of a fresh server loads its classifier; the timing checks start after.
    target
        .chat("cust-fault-warm", "Hello", &request_id("warm-up"))
        .await;
    assert_falls_back(&target, "connection-refused").await;
}

both_backends!(the_offline_responder_answers_when_the_model_is_down_slow_or_failing);
