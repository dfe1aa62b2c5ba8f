//! `--tune-encoder` end to end on a tiny data set: the intent suite fine-tunes a copy of the
//! real model on the training rows, embeds the scored rows with it and reports the run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use engine::embed::local::LocalEmbedder;
use engine::encoder::tune::TuningSettings;
use engine::intent::ClassifierSettings;
use evals::cache::EmbeddingCache;
use evals::data::{Labelled, Splits};
use evals::suites::intent::{run, IntentOptions};
use evals::suites::Context;

fn rows(items: &[(&str, &str)]) -> Vec<Labelled> {
    items
        .iter()
        .map(|(text, label)| Labelled {
            text: text.to_string(),
            label: label.to_string(),
        })
        .collect()
}

#[test]
fn the_intent_suite_tunes_the_encoder_on_the_training_rows() {
    let embedder = Arc::new(LocalEmbedder::load_default().expect("run scripts/setup-models.sh"));
    let ctx = Context {
        data_dir: evals::data::data_dir(None),
        cache: EmbeddingCache::new(embedder, true),
        settings: ClassifierSettings::default(),
        tuning: Some(TuningSettings {
            rounds: 2,
            batch_size: 3,
            ..TuningSettings::default()
        }),
    };
    let splits = Splits {
        name: "tiny".into(),
        train: rows(&[
            ("where is my order", "tracking"),
            ("track my package", "tracking"),
            ("has my parcel shipped yet", "tracking"),
            ("I want a refund", "refund"),
            ("give me my money back", "refund"),
            ("please refund the charge", "refund"),
            ("reset my password", "access"),
            ("I cannot log in", "access"),
            ("my account is locked", "access"),
        ]),
        validation: Vec::new(),
        test: rows(&[
            ("when will my delivery arrive", "tracking"),
            ("can I get reimbursed for this", "refund"),
            ("I forgot my login details", "access"),
        ]),
    };
    let options = IntentOptions {
        seeds: 1,
        latency_samples: 2,
        ..IntentOptions::default()
    };
    let report = run(&ctx, &splits, &options).expect("runs");
    let json = serde_json::to_value(&report).unwrap();
    let runs = json["details"]["tuning_runs"]
        .as_array()
        .expect("tuning runs");
    assert_eq!(runs.len(), 1);
    // 9 rows + 3 intent names, 4 per intent, two pairing passes: 24 pairs.
    assert_eq!(runs[0]["pairs"], 24, "{json}");
    assert!(runs[0]["steps"].as_u64().unwrap() >= 8, "{json}");
    let accuracy = report
        .metrics
        .iter()
        .find(|m| m.name == "tiny.accuracy")
        .expect("accuracy")
        .value;
    assert_eq!(accuracy, 1.0, "{json}");
}
