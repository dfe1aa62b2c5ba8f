//! Connections: slow-loris clients that trickle their headers, connections that never send a
//! byte, bodies that trickle, and the cap on open connections. The server runs with short
//! limits (2 s) so the suite stays fast; the defaults are documented in `api::limits`.

use std::time::{Duration, Instant};

use tests::{spawn_app_with, Backend, TestApp, CHAT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{assert_healthy, RssWatch, MEMORY_BOUND_MIB};

const LIMIT: Duration = Duration::from_secs(2);

async fn app_with_short_limits(max_connections: usize) -> TestApp {
    spawn_app_with(Backend::Sqlite, move |config| {
        config.limits.header_read_timeout = LIMIT;
        config.limits.request_timeout = LIMIT;
        config.limits.max_connections = max_connections;
    })
    .await
}

fn addr(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `deadline` passes); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(deadline, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

/// 200 connections trickle a request head one byte every 300 ms and one connection sends
/// nothing: meanwhile normal clients are answered at once, and every slow connection is closed
/// by the server soon after the header timeout, without a response and without memory growth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_connections_are_cut_while_normal_clients_are_served() {
    let app = app_with_short_limits(4096).await;
    let watch = RssWatch::start();
    let started = Instant::now();
    let head = format!(
        "POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: {}\r\n\r\n",
        "p".repeat(200)
    );
    let mut lorises = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        let head = head.clone().into_bytes();
        lorises.push(tokio::spawn(async move {
            let dripping = async {
                for byte in head {
                    if stream.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            };
            // The head needs a minute at this pace; the server must cut it long before.
            let _ = tokio::time::timeout(Duration::from_secs(15), dripping).await;
            read_until_closed(&mut stream, Duration::from_secs(10)).await
        }));
    }
    let silent = tokio::spawn({
        let addr = addr(&app);
        async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            read_until_closed(&mut stream, Duration::from_secs(10)).await
        }
    });

    // While they drip, normal clients are served promptly.
    for i in 0..5 {
        let asked = Instant::now();
        let (status, body) = app.chat(&format!("cust_{i}"), "Hello", None).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{:?}",
            asked.elapsed()
        );
    }
    assert_healthy(&app).await;

    for loris in lorises {
        let sent = loris
            .await
            .unwrap()
            .expect("the server closed the slow connection");
        assert!(
            sent.is_empty(),
            "no response to a request never read: {sent:?}"
        );
    }
    let sent = silent
        .await
        .unwrap()
        .expect("the server closed the silent connection");
    assert!(sent.is_empty());
    let elapsed = started.elapsed();
    assert!(
        elapsed < LIMIT + Duration::from_secs(8),
        "the slow connections lasted {elapsed:?}"
    );
    let growth = watch.growth_mib().await;
    assert!(growth < MEMORY_BOUND_MIB, "memory grew by {growth} MiB");
    assert_healthy(&app).await;
}

/// A body that trickles a byte every 200 ms gets `408 {"detail"}` at the request timeout and
/// the connection is closed; the server keeps answering others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_gets_408_and_the_connection_is_closed() {
    let app = app_with_short_limits(4096).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        app.api_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let drip = tokio::spawn(async move {
        for _ in 0..1000 {
            if writer.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let (status, _) = app.chat("cust_meanwhile", "Hello", None).await;
    assert_eq!(status, 200);

    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut response))
        .await
        .expect("the server answered and closed within 10 s");
    assert!(read.is_ok() || !response.is_empty(), "{read:?}");
    drip.abort();
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains(r#"{"detail":"the request body did not arrive within 2 seconds"}"#),
        "{text}"
    );
    assert!(
        elapsed >= LIMIT && elapsed < LIMIT + Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_healthy(&app).await;
}

/// With the cap at 4 open connections, four idle connections make a fifth client wait; once
/// the header timeout closes them, the fifth is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_new_clients_until_a_slot_frees() {
    let app = app_with_short_limits(4).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    // The kernel completed their handshakes first, and the server accepts in that order.
    let started = Instant::now();
    let request = app.client.get(app.url("/healthz")).send();
    let response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert_eq!(response.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited >= LIMIT - Duration::from_millis(500),
        "the fifth connection did not wait for a slot: {waited:?}"
    );
    for mut stream in idle {
        assert!(read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .is_some());
    }
}
