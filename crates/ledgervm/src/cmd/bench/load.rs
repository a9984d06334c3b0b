//! The benchmark's load generator: HTTP/1.1 keep-alive connections that send one
//! pre-encoded request at a time, in the manner of `wrk`.
//!
//! The load generator shares the machine's two cores with the server it measures, so
//! every microsecond it spends is taken from the server. A general-purpose client
//! (connection pool, header maps, a task per request) cost ~15% of the process's CPU in
//! `ledgervm bench`; this one formats each request once, parses responses with
//! `httparse` only as far as status, `Content-Length` and body, and reuses its buffer.

use anyhow::{Context, bail, ensure};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One `POST` request, encoded once and sent many times.
#[derive(Clone)]
pub struct Request(Vec<u8>);

impl Request {
    /// `POST <path>` with a JSON `body`, keep-alive.
    pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Request {
        Request(
            format!(
                "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }
}

/// A keep-alive connection that sends a request and reads its whole response.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `addr` with Nagle off (one small request per round trip).
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 << 10),
        })
    }

    /// Sends `req` and reads the whole response; fails unless the status is 2xx.
    pub async fn round_trip(&mut self, req: &Request) -> anyhow::Result<()> {
        self.stream.write_all(&req.0).await?;
        self.buf.clear();
        let (status, head, body_len) = loop {
            let n = self.read_more().await?;
            ensure!(n > 0, "the server closed the connection mid-response");
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf)? {
                httparse::Status::Partial => continue,
                httparse::Status::Complete(head) => {
                    let len = resp
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .context("a response without Content-Length")?;
                    let len: usize = std::str::from_utf8(len.value)?.trim().parse()?;
                    break (resp.code.unwrap_or(0), head, len);
                }
            }
        };
        while self.buf.len() < head + body_len {
            ensure!(
                self.read_more().await? > 0,
                "the server closed the connection mid-body"
            );
        }
        if !(200..300).contains(&status) {
            let body = String::from_utf8_lossy(&self.buf[head..head + body_len]);
            bail!("status {status}: {body}");
        }
        ensure!(
            self.buf.len() == head + body_len,
            "bytes after the response (the client never pipelines)"
        );
        Ok(())
    }

    async fn read_more(&mut self) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 << 10);
        }
        self.stream.read_buf(&mut self.buf).await
    }
}

async fn connect_all(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(Conn::connect(addr).await?);
    }
    Ok(conns)
}

/// Closed loop: `concurrency` connections each sending `req` back to back for `span`.
/// Returns calls/s and the sorted latencies.
pub async fn closed_loop(
    addr: SocketAddr,
    req: &Request,
    concurrency: usize,
    span: Duration,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let conns = connect_all(addr, concurrency).await?;
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let req = req.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while start.elapsed() < span {
                    let t = Instant::now();
                    c.round_trip(&req).await?;
                    lat.push(t.elapsed());
                }
                anyhow::Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    Ok((rate, lat))
}

/// Open loop at `rate` calls/s for `span`, spread over `concurrency` connections, each
/// with its own fixed schedule. Latency runs from a request's *scheduled* time, so a
/// request that waits behind a slow one is charged for the wait (no coordinated
/// omission). Returns the sorted latencies.
pub async fn open_loop(
    addr: SocketAddr,
    req: &Request,
    rate: f64,
    concurrency: usize,
    span: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let conns = connect_all(addr, concurrency).await?;
    let interval = Duration::from_secs_f64(concurrency as f64 / rate.max(1.0));
    let start = Instant::now() + Duration::from_millis(10);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(k, mut c)| {
            let req = req.clone();
            // Connections are staggered evenly across one interval.
            let first = start + interval.mul_f64(k as f64 / concurrency as f64);
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut due = first;
                while due < start + span {
                    tokio::time::sleep_until(due.into()).await;
                    c.round_trip(&req).await?;
                    lat.push(due.elapsed());
                    due += interval;
                }
                anyhow::Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    lat.sort();
    Ok(lat)
}
