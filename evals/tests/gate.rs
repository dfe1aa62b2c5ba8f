//! The CI gate passes for the shipped classifier and fails for a deliberately worse one
//! (trained on one example per intent), against the committed baseline
//! `evals/baselines/gate.json`. Real embedding model, real data sets.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use engine::embed::local::LocalEmbedder;
use engine::intent::ClassifierSettings;
use evals::cache::EmbeddingCache;
use evals::data;
use evals::report::Baseline;
use evals::suites::gate::{self, Degrade};
use evals::suites::Context;

fn context() -> Context {
    let embedder = Arc::new(LocalEmbedder::load_default().expect("run scripts/setup-models.sh"));
    Context {
        data_dir: data::data_dir(None),
        cache: EmbeddingCache::new(embedder, false),
        settings: ClassifierSettings::default(),
        tuning: None,
    }
}

#[test]
fn the_gate_passes_the_shipped_classifier_and_fails_a_worse_one() {
    let baseline_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("baselines/gate.json");
    let baseline = Baseline::load(&baseline_path).unwrap();
    let ctx = context();

    let shipped = gate::run(&ctx, Degrade::None).unwrap();
    let regressions = baseline.compare(&shipped);
    assert!(
        regressions.is_empty(),
        "the shipped classifier regressed: {regressions:?}"
    );

    let worse = gate::run(&ctx, Degrade::OneExamplePerIntent).unwrap();
    let regressions = baseline.compare(&worse);
    let failed: Vec<&str> = regressions.iter().map(|r| r.metric.as_str()).collect();
    assert!(failed.contains(&"defaults_bitext.accuracy"), "{failed:?}");
    assert!(
        failed.contains(&"clinc_slice.in_scope_accuracy"),
        "{failed:?}"
    );
    // Language identification does not depend on the classifier and stays within tolerance.
    assert!(
        !failed.iter().any(|m| m.starts_with("language.")),
        "{failed:?}"
    );
}
