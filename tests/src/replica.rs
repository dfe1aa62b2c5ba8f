//! One more `blaigent` server, in-process, on a database another server already uses: how the
//! reliability and deployment suites run several replicas (each with its own data folder, so
//! the embedded vector index and scratch files are per process, as on separate hosts).

use std::net::SocketAddr;

use api::{AppState, Config};
use engine::store::orgs::Plan;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running replica; asked to stop when dropped.
pub struct Replica {
    pub base_url: String,
    pub state: AppState,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Replica {
    /// Starts a replica on `database_url` with the defaults adjusted by `configure`, on a free
    /// loopback port.
    pub async fn start(database_url: &str, configure: impl Fn(&mut Config)) -> Replica {
        let mut config = Config::with_database(database_url.to_owned());
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        configure(&mut config);
        Replica::from_config(config).await
    }

    /// Builds the state from a loaded `config` (migrations included) and serves it on the
    /// address its `bind` names; only the data folder is replaced by a temporary one.
    pub async fn from_config(mut config: Config) -> Replica {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a data folder: {e}"));
        config.data_dir = dir.path().to_path_buf();
        let listener = TcpListener::bind(config.bind)
            .await
            .unwrap_or_else(|e| panic!("binding {}: {e}", config.bind));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("reading the replica's address: {e}"));
        let state = AppState::build(config)
            .await
            .unwrap_or_else(|e| panic!("building a replica: {e:#}"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Replica {
            base_url: format!("http://{addr}"),
            state,
            client: reqwest::Client::new(),
            _dir: dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Creates an organization as `blaigent org create` does; returns its id and key.
    pub async fn create_org(
        &self,
        plan: Plan,
        rate_limit_per_min: Option<i64>,
        monthly_conversation_quota: Option<i64>,
    ) -> (String, String) {
        crate::create_org_in(
            &self.state,
            plan,
            rate_limit_per_min,
            monthly_conversation_quota,
        )
        .await
    }

    /// Stops the replica, letting in-flight requests finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.state.store.close().await;
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
