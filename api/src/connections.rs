//! The accept loop: serves the router on a listener with the edge limits of
//! [`crate::limits::LimitSettings`] that only the connection level can enforce.
//!
//! - At most `max_connections` connections are open at once; past it the loop stops
//!   accepting, so further clients wait in the kernel's listen backlog instead of each costing
//!   a task, buffers and a file descriptor.
//! - A connection must deliver a complete request head within `header_read_timeout`, both the
//!   first one (checked here, which also covers the HTTP/2 preface and a client that sends
//!   nothing at all) and every later one on a kept-alive HTTP/1 connection (hyper's header
//!   timer, which also closes idle keep-alive connections). A slow-loris client that trickles
//!   its headers a byte at a time therefore holds a slot for at most that long.
//! - HTTP/2 connections are pinged and closed when the peer stops answering.
//!
//! Shutdown is graceful as with `axum::serve`: stop accepting, let every connection finish its
//! in-flight requests, then return. Each request carries [`ConnectInfo`] with the peer
//! address (the widget's per-IP limits read it).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::limits::LimitSettings;

/// How often an idle HTTP/2 connection is pinged, and how long the answer may take.
const H2_PING_EVERY: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves `router` on `listener` until `shutdown` completes, then waits for open connections
/// to finish their requests.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: &LimitSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // `stop_tx` is dropped at shutdown, which every connection sees as `closed`; each
    // connection holds a `done_rx` clone, so `done_tx.closed()` completes when the last ends.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed; treated as a shutdown
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            limits.header_read_timeout,
            permit,
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    drop(stop_tx);
    drop(stop_rx);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

/// Per-connection errors (the peer reset before we took it) are routine; others (out of file
/// descriptors) are logged and retried after a pause instead of spinning.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    _permit: OwnedSemaphorePermit,
    stop_rx: watch::Receiver<()>,
    _done_rx: watch::Receiver<()>,
) {
    let saw_request = Arc::new(AtomicBool::new(false));
    let seen = saw_request.clone();
    let service = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        seen.store(true, Ordering::Release);
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let service = TowerToHyperService::new(service);

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_EVERY)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .enable_connect_protocol();
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let first_request = tokio::time::sleep(header_read_timeout);
    let mut first_request = std::pin::pin!(first_request);
    let mut first_request_due = true;
    let mut stopping = false;
    let mut stop_rx = stop_rx;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::trace!(error = %err, "connection ended with an error");
                }
                break;
            }
            () = &mut first_request, if first_request_due => {
                first_request_due = false;
                if !saw_request.load(Ordering::Acquire) {
                    tracing::debug!(%peer, "no complete request head in time; closing");
                    break;
                }
            }
            _ = stop_rx.changed(), if !stopping => {
                // `changed` fails once the sender is gone: that is the shutdown signal.
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
