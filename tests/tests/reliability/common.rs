//! Helpers of the reliability suites: a second server (a replica) on an existing database,
//! and a server on any database URL (the outage suite points one at a TCP proxy).

use api::{AppState, Config};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server started by these suites; stops when dropped.
pub struct Server {
    pub base_url: String,
    pub state: AppState,
    pub client: reqwest::Client,
    /// Its own data folder: the embedded vector index is per process.
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Starts a server on `database_url` with the defaults adjusted by `configure`.
    pub async fn start(database_url: &str, configure: impl Fn(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_database(database_url.to_owned());
        config.data_dir = dir.path().to_path_buf();
        configure(&mut config);
        let state = AppState::build(config)
            .await
            .unwrap_or_else(|e| panic!("building the app state: {e:#}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Server {
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

    /// Stops the server, letting in-flight requests finish.
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

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
