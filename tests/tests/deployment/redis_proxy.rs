//! Redis for the limiter tests: finding the machine's Redis (skipping with a NOTICE when none
//! answers), one command over plain RESP to look at what the limiter wrote, and a TCP proxy
//! the test cuts and restores to take Redis away from a replica without stopping the
//! machine's Redis, which other tests use.

use std::time::Duration;

use tests::tcp_proxy::TcpProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `redis://host:port` of the test Redis (`BLAIGENT_TEST_REDIS_URL`, default the machine's
/// 127.0.0.1:6379) when it answers PING; `None` with a NOTICE line otherwise.
pub async fn local_redis_url() -> Option<String> {
    let url = std::env::var("BLAIGENT_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let answer = tokio::time::timeout(Duration::from_secs(2), try_command(&url, &["PING"])).await;
    match answer {
        Ok(Ok(reply)) if reply == "+PONG" => Some(url),
        other => {
            eprintln!(
                "NOTICE: skipped: no Redis answers at {url} ({other:?}); run scripts/ensure-redis.sh"
            );
            None
        }
    }
}

/// Sends one command to the Redis at `url` and returns the first line of the reply.
pub async fn redis_command(url: &str, args: &[&str]) -> String {
    try_command(url, args)
        .await
        .unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
}

async fn try_command(url: &str, args: &[&str]) -> std::io::Result<String> {
    let address = url.trim_start_matches("redis://").trim_end_matches('/');
    let mut stream = TcpStream::connect(address).await?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        if stream.read(&mut byte).await? == 0 {
            break;
        }
        reply.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&reply).trim_end().to_owned())
}

/// A TCP proxy in front of Redis ([`TcpProxy`]) and the URL the replica is given.
pub struct RedisProxy {
    /// `redis://127.0.0.1:<port>`: what the replica is given.
    pub url: String,
    proxy: TcpProxy,
}

impl RedisProxy {
    pub async fn start(redis_url: &str) -> RedisProxy {
        let upstream = redis_url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let proxy = TcpProxy::start(upstream).await;
        RedisProxy {
            url: format!("redis://127.0.0.1:{}", proxy.port),
            proxy,
        }
    }

    /// Closes the listening socket and every connection: Redis is gone.
    pub fn cut(&self) {
        self.proxy.cut();
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        self.proxy.restore().await;
    }
}
