//! The production example in `deploy/` is tested, not just written: the configuration file is
//! loaded through the server's own loader (the command line of `deploy/blaigent.service`,
//! parsed by the real `blaigent` CLI), it must validate, and two replicas started from it on
//! one PostgreSQL behave as one service. The same with the Redis rate limiter, when a Redis
//! answers (`scripts/ensure-redis.sh`; otherwise those tests print a NOTICE and pass).
//!
//! `cargo test -p tests --test deployment` (PostgreSQL from scripts/ensure-postgres.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod deployment {
    pub mod redis_proxy;
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use api::rate_limit::LimiterChoice;
use api::Config;
use clap::Parser;
use engine::store::orgs::Plan;
use serde_json::json;
use tests::{send_json, Backend, TestDatabase, CHAT};

use deployment::redis_proxy::{local_redis_url, redis_command, RedisProxy};
use tests::replica::Replica;

/// A file of the repository's `deploy/` folder.
fn deploy_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy")
        .join(name)
}

/// The secrets the example leaves to the environment, with test values.
fn test_environment(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env = HashMap::from([
        (
            "BLAIGENT_CHANNEL_SECRET_KEY".to_owned(),
            "a-test-key-of-more-than-thirty-two-characters".to_owned(),
        ),
        // Background intent tuning would spend minutes of CPU beside the other tests.
        ("BLAIGENT_INTENT_TUNING".to_owned(), "off".to_owned()),
    ]);
    for (name, value) in extra {
        env.insert((*name).to_owned(), (*value).to_owned());
    }
    env
}

/// Loads `deploy/blaigent.toml` the way `deploy/blaigent.service` starts a replica
/// (`blaigent serve --config ...`), with `overrides` appended to the command line and the
/// environment given by `env` instead of this process's.
fn load_example(overrides: &[&str], env: &HashMap<String, String>) -> anyhow::Result<Config> {
    let file = deploy_file("blaigent.toml");
    let mut argv = vec![
        "blaigent".to_owned(),
        "serve".to_owned(),
        "--config".to_owned(),
        file.display().to_string(),
    ];
    argv.extend(overrides.iter().map(|s| (*s).to_owned()));
    let cli = api::cli::Cli::try_parse_from(argv)?;
    Config::load_with_env(&cli.config, |name| env.get(name).cloned())
}

/// The example, pointed at `db` and a free loopback port: the only overrides.
fn example_on(db: &TestDatabase, env: &HashMap<String, String>) -> Config {
    load_example(&["--database-url", &db.url, "--bind", "127.0.0.1:0"], env)
        .unwrap_or_else(|e| panic!("the example configuration does not load: {e:#}"))
}

#[test]
fn the_example_configuration_validates_as_written() {
    let config = load_example(&[], &test_environment(&[]))
        .unwrap_or_else(|e| panic!("deploy/blaigent.toml does not load: {e:#}"));
    assert_eq!(config.bind.to_string(), "0.0.0.0:8080");
    assert!(config.database_url.starts_with("postgres://"));
    assert_eq!(config.rate_limiter, LimiterChoice::Database);
    assert_eq!(config.log_format, api::config::LogFormat::Json);
    assert_eq!(config.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(config.rate_limits.for_plan(Plan::Growth), 300);
    // The [settings] table reaches the settings that have no top-level key.
    assert_eq!(config.webhooks.timeout, Duration::from_secs(10));
    assert_eq!(config.channels.timeout, Duration::from_secs(10));
    assert_eq!(config.overload.queue_timeout, Duration::from_secs(5));
    assert_eq!(config.overload.max_inflight, 64);
    assert!(config.widget.trust_proxy);
    assert_eq!(
        config.channels.public_url.as_deref(),
        Some("https://support.example.com")
    );
    // The secret came from the environment, never from the file.
    assert!(config.channels.secret_key.is_some());
    let file = std::fs::read_to_string(deploy_file("blaigent.toml")).unwrap();
    assert!(!file.contains("secret_key"), "a secret in the example file");

    // The environment wins over the file.
    let env = test_environment(&[("BLAIGENT_WEBHOOK_TIMEOUT", "3s")]);
    let config = load_example(&[], &env).unwrap();
    assert_eq!(config.webhooks.timeout, Duration::from_secs(3));
}

#[test]
fn the_proxy_refuses_the_same_bodies_as_the_replicas() {
    let config = load_example(&[], &test_environment(&[])).unwrap();
    let nginx = std::fs::read_to_string(deploy_file("nginx.conf")).unwrap();
    let size = nginx
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("client_max_body_size "))
        .expect("client_max_body_size in deploy/nginx.conf");
    let size = size.trim_end_matches(';');
    let bytes: usize = match size.strip_suffix('m') {
        Some(mib) => mib.parse::<usize>().unwrap() * 1024 * 1024,
        None => size.parse().unwrap(),
    };
    assert_eq!(
        bytes, config.max_body_bytes,
        "nginx and blaigent.toml disagree"
    );
    let unit = std::fs::read_to_string(deploy_file("blaigent.service")).unwrap();
    assert!(
        unit.contains(
            "ExecStart=/opt/blaigent/bin/blaigent serve --config /etc/blaigent/blaigent.toml"
        ),
        "the unit does not start the server with the example file"
    );
}

#[test]
fn a_setting_the_file_cannot_hold_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let mut text = std::fs::read_to_string(deploy_file("blaigent.toml")).unwrap();
    text.push_str("llm_timeout_secs = 5\n");
    std::fs::write(&path, text).unwrap();
    let cli =
        api::cli::Cli::try_parse_from(["blaigent", "--config", path.to_str().unwrap()]).unwrap();
    let err = Config::load_with_env(&cli.config, |name| test_environment(&[]).get(name).cloned())
        .unwrap_err();
    assert!(format!("{err:#}").contains("llm_timeout_secs"), "{err:#}");
}

/// An organization limited to `per_min` requests a minute, and its key.
async fn limited_org(replica: &Replica, per_min: i64) -> String {
    replica
        .create_org(Plan::Starter, Some(per_min), None)
        .await
        .1
}

/// Sends `count` requests alternately to `replicas` with `key`; returns how many were
/// allowed and how many each replica refused (each refusal checked as a client sees it).
async fn spend(replicas: &[&Replica], key: &str, count: usize, limit: &str) -> (usize, Vec<usize>) {
    let mut allowed = 0;
    let mut refused = vec![0; replicas.len()];
    for i in 0..count {
        let replica = replicas[i % replicas.len()];
        let response = replica
            .client
            .get(replica.url("/api/v1/platform/conversations"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => allowed += 1,
            429 => {
                refused[i % replicas.len()] += 1;
                assert!(response.headers().contains_key("retry-after"));
                assert_eq!(response.headers()["x-ratelimit-limit"], limit);
                let (_, body) = tests::json_of(response).await;
                assert!(body["detail"].is_string(), "{body}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    (allowed, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_from_the_example_serve_as_one() {
    let db = TestDatabase::create(Backend::Postgres).await.unwrap();
    let config = example_on(&db, &test_environment(&[]));
    let a = Replica::from_config(config.clone()).await;
    let b = Replica::from_config(config).await;
    for replica in [&a, &b] {
        let (status, body) = send_json(replica.client.get(replica.url("/readyz"))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(replica.state.limiter.kind(), "database");
    }

    // A chat started on one replica continues on the other.
    let (org, key) = a.create_org(Plan::Scale, Some(100_000), None).await;
    let chat = |replica: &Replica, session: Option<String>| {
        let mut body =
            json!({"message": "Where is my order?", "customer_id": "ann", "organization_id": org});
        if let Some(session) = session {
            body["session_id"] = json!(session);
        }
        replica
            .client
            .post(replica.url(CHAT))
            .bearer_auth(&key)
            .json(&body)
    };
    let (status, first) = send_json(chat(&a, None)).await;
    assert_eq!(status, 200, "{first}");
    let session = first["session_id"].as_str().unwrap().to_owned();
    let (status, second) = send_json(chat(&b, Some(session.clone()))).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["session_id"], session.as_str());
    let (status, transcript) = send_json(
        a.client
            .get(a.url(&format!(
                "/api/v1/platform/conversations/{session}/messages"
            )))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(status, 200, "{transcript}");
    let from_customer = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "customer")
        .count();
    assert_eq!(from_customer, 2, "{transcript}");

    // The request id a load balancer sets comes back, so one id follows a request end to end.
    let response = b
        .client
        .get(b.url("/api/v1/platform/conversations"))
        .bearer_auth(&key)
        .header("x-request-id", "lb-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "lb-7f3a");

    // 6 requests a minute across both replicas: about 6 pass in all (one more may refill
    // while the loop runs), not 6 per replica.
    let key = limited_org(&a, 6).await;
    let (allowed, refused) = spend(&[&a, &b], &key, 20, "6").await;
    assert!((6..=7).contains(&allowed), "{allowed} requests allowed");
    assert!(refused.iter().all(|n| *n > 0), "{refused:?}");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_the_redis_limiter_share_one_budget() {
    let Some(redis) = local_redis_url().await else {
        return;
    };
    let db = TestDatabase::create(Backend::Postgres).await.unwrap();
    let env = test_environment(&[
        ("BLAIGENT_RATE_LIMITER", "redis"),
        ("BLAIGENT_REDIS_URL", redis.as_str()),
    ]);
    let config = example_on(&db, &env);
    assert_eq!(config.rate_limiter, LimiterChoice::Redis);
    let a = Replica::from_config(config.clone()).await;
    let b = Replica::from_config(config).await;
    assert_eq!(a.state.limiter.kind(), "redis");

    let key = limited_org(&a, 6).await;
    let (allowed, refused) = spend(&[&a, &b], &key, 20, "6").await;
    assert!((6..=7).contains(&allowed), "{allowed} requests allowed");
    assert!(refused.iter().all(|n| *n > 0), "{refused:?}");
    // The database holds no bucket: the budget lived in Redis.
    let rows: i64 = sqlx::query_scalar("select count(*) from rate_limit_buckets")
        .fetch_one(a.state.store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_keeps_limiting_while_redis_is_away_and_shares_again_when_it_is_back() {
    let Some(redis) = local_redis_url().await else {
        return;
    };
    let proxy = RedisProxy::start(&redis).await;
    let db = TestDatabase::create(Backend::Postgres).await.unwrap();
    let env = test_environment(&[
        ("BLAIGENT_RATE_LIMITER", "redis"),
        ("BLAIGENT_REDIS_URL", proxy.url.as_str()),
    ]);
    let replica = Replica::from_config(example_on(&db, &env)).await;

    // Redis unreachable: requests are still served, and this replica still limits them.
    proxy.cut();
    let (org, key) = replica.create_org(Plan::Starter, Some(3), None).await;
    let (allowed, _) = spend(&[&replica], &key, 6, "3").await;
    assert_eq!(allowed, 3, "the in-process fallback did not limit");
    let bucket = format!("blaigent:ratelimit:org:{org}");
    assert_eq!(redis_command(&redis, &["EXISTS", &bucket]).await, ":0");

    // Redis back: the replica reconnects by itself and charges the shared bucket again.
    proxy.restore().await;
    let (org, key) = replica.create_org(Plan::Starter, Some(1_000), None).await;
    let bucket = format!("blaigent:ratelimit:org:{org}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = send_json(
            replica
                .client
                .get(replica.url("/api/v1/platform/conversations"))
                .bearer_auth(&key),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if redis_command(&redis, &["EXISTS", &bucket]).await == ":1" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the limiter never went back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    replica.stop().await;
}
