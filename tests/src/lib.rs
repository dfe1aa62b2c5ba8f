//! The integration-test harness: starts the real `blaigent` server in-process on
//! `127.0.0.1:0` against a fresh database (a SQLite file in a temporary folder, or a fresh
//! PostgreSQL database), and hands tests an HTTP client, an organization and its API key.
//!
//! - [`spawn_app`] / [`spawn_app_with`] / [`spawn_app_with_state`] — a running server on a
//!   fresh database.
//! - [`TestApp`] — its address, client, default organization and helpers; [`TestApp::restart`]
//!   stops it and starts a new server on the same data.
//! - [`Backend`] — SQLite or PostgreSQL (`BLAIGENT_TEST_POSTGRES_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/postgres`).
//! - [`both_backends!`] — runs one scenario as two tests, one per backend.
//! - [`provider_mock`] — a loopback channel provider API that records requests and can fail.
//! - [`channel_helpers`] — channel test set-up and signed Twilio webhooks.
//! - [`replica`] — one more server on an existing database (replicas, deployment).
//! - [`tcp_proxy`] — a loopback TCP proxy a test cuts and restores to stage an outage.

pub mod action_backend;
pub mod channel_helpers;
pub mod loopback;
pub mod openai_mock;
pub mod provider_mock;
pub mod replica;
pub mod tcp_proxy;

use std::sync::Arc;

use anyhow::Context;
use api::{AppState, Config};
use engine::service::orgs;
use engine::store::orgs::{NewOrganization, Plan};
use reqwest::{RequestBuilder, Response};
use serde_json::Value;
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the tests' PostgreSQL server is (an administrative database on it).
pub fn postgres_admin_url() -> String {
    std::env::var("BLAIGENT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh database, removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    /// Holds the SQLite file (and anything else under the data folder).
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDatabase {
    /// Creates an empty database of `backend`.
    pub async fn create(backend: Backend) -> anyhow::Result<TestDatabase> {
        let dir = tempfile::tempdir()?;
        match backend {
            Backend::Sqlite => Ok(TestDatabase {
                backend,
                url: format!("sqlite://{}/blaigent.db", dir.path().display()),
                dir,
                pg_name: None,
            }),
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("blaigent_test_{}", engine::ids::fresh_suffix());
                let mut conn = sqlx::PgConnection::connect(&admin).await.with_context(|| {
                    format!("connecting to {admin} (run scripts/ensure-postgres.sh)")
                })?;
                // The name is ours (prefix + base32), never user input; identifiers cannot be
                // bound as parameters.
                sqlx::query(&format!("create database {name}"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Ok(TestDatabase {
                    backend,
                    url: format!("{base}/{name}"),
                    dir,
                    pg_name: Some(name),
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any async context we can rely on: use a private runtime on a
        // plain thread. `with (force)` ends the server's remaining connections.
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A running server with an organization and its key.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub org_id: String,
    pub api_key: String,
    pub state: AppState,
    pub db: Arc<TestDatabase>,
    configure: Arc<dyn Fn(&mut Config) + Send + Sync>,
    map_state: Arc<StateMapper>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("base_url", &self.base_url)
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

/// Adjusts the built state before the server starts (e.g. swaps the agent for a stand-in).
pub type StateMapper = dyn Fn(AppState) -> AppState + Send + Sync;

/// Starts a server with the default configuration on a fresh `backend` database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a server whose configuration `configure` adjusts (rate limits, grace periods, ...).
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl Fn(&mut Config) + Send + Sync + 'static,
) -> TestApp {
    spawn_app_with_state(backend, configure, |state| state).await
}

/// Starts a server whose configuration `configure` adjusts and whose state `map_state`
/// adjusts (both are applied again by [`TestApp::restart`]).
pub async fn spawn_app_with_state(
    backend: Backend,
    configure: impl Fn(&mut Config) + Send + Sync + 'static,
    map_state: impl Fn(AppState) -> AppState + Send + Sync + 'static,
) -> TestApp {
    let db = Arc::new(
        TestDatabase::create(backend)
            .await
            .unwrap_or_else(|e| panic!("creating the test database: {e:#}")),
    );
    let mut app = start(db, Arc::new(configure), Arc::new(map_state)).await;
    // The default organization gets a very high rate limit so scenarios that are not about
    // rate limiting never trip it.
    let (org_id, api_key) = app.create_org(Plan::Scale, Some(1_000_000), None).await;
    app.org_id = org_id;
    app.api_key = api_key;
    app
}

async fn start(
    db: Arc<TestDatabase>,
    configure: Arc<dyn Fn(&mut Config) + Send + Sync>,
    map_state: Arc<StateMapper>,
) -> TestApp {
    let mut config = Config::with_database(db.url.clone());
    config.data_dir = db.dir.path().to_path_buf();
    configure(&mut config);
    if let Ok(filter) = std::env::var("BLAIGENT_TEST_LOG") {
        // Opt-in server logs while debugging a test: BLAIGENT_TEST_LOG=debug cargo test ...
        config.log_filter = filter;
        api::telemetry::init(&config);
    }
    let state = map_state(
        AppState::build(config)
            .await
            .unwrap_or_else(|e| panic!("building the app state: {e:#}")),
    );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("binding a port: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("reading the bound address: {e}"));
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    TestApp {
        base_url: format!("http://{addr}"),
        client: reqwest::Client::new(),
        org_id: String::new(),
        api_key: String::new(),
        state,
        db,
        configure,
        map_state,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// Creates an organization in `state`'s database through the service layer (as `blaigent org
/// create` does) and returns its id and first API key.
pub async fn create_org_in(
    state: &AppState,
    plan: Plan,
    rate_limit_per_min: Option<i64>,
    monthly_conversation_quota: Option<i64>,
) -> (String, String) {
    let created = orgs::create_org(
        &state.store,
        NewOrganization {
            name: "Test org".into(),
            plan,
            rate_limit_per_min,
            monthly_conversation_quota,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("creating an organization: {e:?}"));
    (created.organization.id.into_string(), created.key.secret)
}

impl TestApp {
    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Creates an organization through the service layer (as `blaigent org create` does) and
    /// returns its id and first API key.
    pub async fn create_org(
        &self,
        plan: Plan,
        rate_limit_per_min: Option<i64>,
        monthly_conversation_quota: Option<i64>,
    ) -> (String, String) {
        create_org_in(
            &self.state,
            plan,
            rate_limit_per_min,
            monthly_conversation_quota,
        )
        .await
    }

    /// A GET with the default organization's key.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.api_key)
    }

    /// A POST with the default organization's key.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(&self.api_key)
    }

    /// A PATCH with the default organization's key.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.client.patch(self.url(path)).bearer_auth(&self.api_key)
    }

    /// A DELETE with the default organization's key.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.api_key)
    }

    /// Sends a chat message for the default organization as `customer`, continuing `session`
    /// when given; returns the status and JSON body.
    pub async fn chat(&self, customer: &str, message: &str, session: Option<&str>) -> (u16, Value) {
        let mut body = serde_json::json!({
            "message": message,
            "customer_id": customer,
            "organization_id": self.org_id,
        });
        if let Some(session) = session {
            body["session_id"] = Value::from(session);
        }
        send_json(self.post(CHAT).json(&body)).await
    }

    /// Asks the server to stop (in-flight requests still finish) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server, letting in-flight requests finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.state.store.close().await;
    }

    /// Stops this server and starts a new one on the same database and data folder; the
    /// default organization and key carry over.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let mut next = start(
            self.db.clone(),
            self.configure.clone(),
            self.map_state.clone(),
        )
        .await;
        next.org_id = std::mem::take(&mut self.org_id);
        next.api_key = std::mem::take(&mut self.api_key);
        next
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The chat endpoint's path.
pub const CHAT: &str = "/api/v1/agents/customer-service/chat";

/// Sends a request and returns the status and the JSON body (`Value::Null` when the body is
/// not JSON).
pub async fn send_json(request: RequestBuilder) -> (u16, Value) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("sending the request: {e}"));
    json_of(response).await
}

/// Reads a response's status and JSON body.
pub async fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs `async fn $name(backend: Backend)` as two tests, `$name::sqlite` and
/// `$name::postgres`; attributes written before a name (`#[ignore = "why"]`) go on both.
#[macro_export]
macro_rules! both_backends {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$meta])*
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$meta])*
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// Splits a server-sent-events body into `(event name, JSON data)` pairs, in order; data that
/// is not JSON becomes `null`, blocks without an event name are skipped.
pub fn parse_sse(body: &str) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let mut name = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if !name.is_empty() {
            events.push((name, serde_json::from_str(&data).unwrap_or(Value::Null)));
        }
    }
    events
}
