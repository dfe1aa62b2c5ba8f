//! The answers and policy suites as CI gates: the shipped agent meets the committed baselines
//! (`evals/baselines/answers.json`, `evals/baselines/policy.json`), and a deliberately worse
//! agent (no knowledge base; no configured guardrails) does not.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::agent::Agent;
use engine::config::AgentConfig;
use engine::embed::local::LocalEmbedder;
use engine::ids::OrganizationId;
use engine::intent::ClassifierSettings;
use evals::cache::EmbeddingCache;
use evals::report::Baseline;
use evals::suites::target::{InProcess, Target};
use evals::suites::{answers, policy, Context};

fn root(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn failed(baseline: &str, report: &evals::report::Report) -> Vec<String> {
    Baseline::load(&root(baseline))
        .unwrap()
        .compare(report)
        .into_iter()
        .map(|r| r.metric)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_gate_passes_the_shipped_guardrails_and_fails_without_them() {
    let set = policy::load(&root("data/policy/cases.json")).unwrap();
    let shipped = policy::run(&policy::in_process(&set), &set).await.unwrap();
    assert_eq!(
        failed("baselines/policy.json", &shipped),
        Vec::<String>::new()
    );

    // The same agent without the organization's blocked topics and escalation keywords.
    let mut bare = set.clone();
    bare.blocked_topics.clear();
    bare.escalation_keywords.clear();
    let worse = policy::run(&policy::in_process(&bare), &set).await.unwrap();
    let failed = failed("baselines/policy.json", &worse);
    assert!(
        failed.contains(&"policy.blocked_topic.pass_rate".to_string()),
        "{failed:?}"
    );
    assert!(
        failed.contains(&"policy.escalation_keyword.pass_rate".to_string()),
        "{failed:?}"
    );
    assert!(
        failed.contains(&"policy.accuracy".to_string()),
        "{failed:?}"
    );
    // Redaction does not depend on those settings and stays put.
    assert!(!failed.iter().any(|m| m.contains("pii_")), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answers_gate_passes_the_shipped_agent_and_fails_one_without_knowledge() {
    let embedder = Arc::new(LocalEmbedder::load_default().expect("run scripts/setup-models.sh"));
    let ctx = Context {
        data_dir: evals::data::data_dir(None),
        cache: EmbeddingCache::new(embedder, true),
        settings: ClassifierSettings::default(),
        tuning: None,
    };
    let cases = answers::load_cases(&root("data/answers/cases.json")).unwrap();
    let (target, texts, _kb) = answers::in_process(&ctx, &root("data/answers/kb"))
        .await
        .unwrap();
    let shipped = answers::run(&target, &cases, &texts).await.unwrap();
    assert_eq!(
        failed("baselines/answers.json", &shipped),
        Vec::<String>::new()
    );

    let no_knowledge = Target::InProcess(Box::new(InProcess {
        agent: Arc::new(Agent::new()),
        config: AgentConfig::default(),
        organization_id: OrganizationId::from_trusted("org_evalempty".into()),
    }));
    let worse = answers::run(&no_knowledge, &cases, &HashMap::new())
        .await
        .unwrap();
    let failed = failed("baselines/answers.json", &worse);
    assert!(
        failed.contains(&"answers.answerable.pass_rate".to_string()),
        "{failed:?}"
    );
    assert!(
        failed.contains(&"answers.fact_recall".to_string()),
        "{failed:?}"
    );
    // Declining everything gets the unanswerable questions right.
    assert!(
        !failed.contains(&"answers.unanswerable.handoff_rate".to_string()),
        "{failed:?}"
    );
}
