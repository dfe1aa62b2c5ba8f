//! The server under every loopback stand-in (the OpenAI model, the action backend, the channel
//! providers): an axum router served on `127.0.0.1:0`, stopped when dropped.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running loopback server; the task is aborted when this is dropped.
#[derive(Debug)]
pub struct LoopbackServer {
    /// Where it listens (`127.0.0.1:PORT`).
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl LoopbackServer {
    /// Serves `app` on a free loopback port; `what` names it in the panic if binding fails.
    pub async fn start(app: Router, what: &str) -> LoopbackServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the {what}: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("reading the {what}'s address: {e}"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LoopbackServer { address, task }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
