//! One `blaigent` replica started from a loaded [`Config`], in-process on the port its
//! `bind` names (tests bind `127.0.0.1:0`), with its own data folder: the embedded vector
//! index and scratch files are per process, like on separate hosts.

use api::{AppState, Config};
use engine::service::orgs;
use engine::store::orgs::{NewOrganization, Plan};
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
    /// Builds the state from `config` (migrations included) and serves it.
    pub async fn start(mut config: Config) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        config.data_dir = dir.path().to_path_buf();
        let listener = TcpListener::bind(config.bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::build(config)
            .await
            .unwrap_or_else(|e| panic!("building a replica from the example: {e:#}"));
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
        let created = orgs::create_org(
            &self.state.store,
            NewOrganization {
                name: "Deployment test".into(),
                plan,
                rate_limit_per_min,
                monthly_conversation_quota,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("creating an organization: {e:?}"));
        (created.organization.id.into_string(), created.key.secret)
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
