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
///
/// The schedule is kept by a thread of its own, with `std::thread::sleep`'s microsecond
/// precision. A tokio timer ticks in whole milliseconds: each request went out up to
/// 1 ms late, and all those due within one tick went out together, and since latency
/// counts from the scheduled time, the server was charged for both.
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
    let mut dues = Vec::with_capacity(concurrency);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let req = req.clone();
            let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
            dues.push(due_tx);
            tokio::spawn(async move {
                let mut lat = Vec::new();
                // A request due while the previous one is still out waits in the
                // channel, and its wait counts.
                while let Some(due) = due_rx.recv().await {
                    c.round_trip(&req).await?;
                    lat.push(due.elapsed());
                }
                anyhow::Ok(lat)
            })
        })
        .collect();
    let pacer = std::thread::Builder::new()
        .name("bench-pacer".into())
        .spawn(move || pace(dues, start, interval, span))?;
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    pacer.join().expect("the pacer thread panicked");
    lat.sort();
    Ok(lat)
}

/// Sends each connection its due times, connection `k` starting `k / n` of an interval
/// in, until `span` after `start`; dropping the senders then ends the connections' loops.
fn pace(
    dues: Vec<tokio::sync::mpsc::UnboundedSender<Instant>>,
    start: Instant,
    interval: Duration,
    span: Duration,
) {
    let n = dues.len();
    let mut next: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, usize)>> = (0..n)
        .map(|k| std::cmp::Reverse((start + interval.mul_f64(k as f64 / n as f64), k)))
        .collect();
    let end = start + span;
    while let Some(std::cmp::Reverse((due, k))) = next.pop() {
        if due >= end {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if dues[k].send(due).is_err() {
            break; // that connection failed; its task reports why
        }
        next.push(std::cmp::Reverse((due + interval, k)));
    }
}
