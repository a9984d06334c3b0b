//! The HTTP accept loop: the router served over hyper's HTTP/1.1 connection driver,
//! with a timer, on plain TCP or on the attested TLS listener.
//!
//! This replaces `axum::serve`, which builds hyper's connections without a timer: without
//! one, hyper's header-read timeout never fires, so a client dribbling its request head
//! one line at a time (slowloris on the head) held a connection and its task forever.
//! Here every connection has a header-read deadline ([`crate::ServerOptions`]'s
//! `header_read_timeout`). hyper starts that deadline whenever the connection waits for
//! a request head, so it also closes a connection that stays idle (no request at all, or
//! nothing after a keep-alive answer) for that long.
//!
//! Everything else `axum::serve` did is kept: WebSocket upgrades, `TCP_NODELAY`, the
//! per-connection identity `GET /v1/attestation` answers with (a `ConnectInfo`
//! extension), accept errors that never end the loop, and graceful shutdown — stop
//! accepting, let every connection finish the request it is handling, close idle ones,
//! and return once all are gone.

use crate::tls::{ConnIdentity, TlsListener};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Where connections come from.
pub(crate) enum Listener {
    /// Plain HTTP.
    Plain(TcpListener),
    /// TLS, already terminated; each stream knows the identity its certificate names.
    Tls(TlsListener),
}

/// What every connection task shares.
#[derive(Clone)]
struct Shared {
    app: Router,
    header_read_timeout: Duration,
    /// Flips to `true` when the server stops.
    shutdown: watch::Receiver<bool>,
    /// Held by every connection task; the loop waits until all are dropped.
    alive: watch::Receiver<()>,
}

/// Serves `app` on `listener` until `stopped` completes, then shuts down gracefully.
pub(crate) async fn run(
    mut listener: Listener,
    app: Router,
    header_read_timeout: Duration,
    stopped: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (alive_tx, alive) = watch::channel(());
    let shared = Shared {
        app,
        header_read_timeout,
        shutdown,
        alive,
    };
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            // Stop accepting as soon as asked, even with connections queued.
            biased;
            _ = &mut stopped => break,
            conn = accept(&mut listener) => match conn {
                Some(Accepted::Plain(tcp)) => spawn(tcp, None, shared.clone()),
                Some(Accepted::Tls(tls, id)) => spawn(*tls, Some(id), shared.clone()),
                // The TLS accept task is gone (it only ends when aborted): stop too.
                None => break,
            },
        }
    }
    // Release the port before waiting: a restarted server can bind it at once.
    drop(listener);
    let _ = shutdown_tx.send(true);
    drop(shared);
    alive_tx.closed().await;
    Ok(())
}

enum Accepted {
    Plain(tokio::net::TcpStream),
    // Boxed: a TLS stream is much larger than a TCP one, and this value only moves once.
    Tls(Box<crate::tls::AttestedStream>, ConnIdentity),
}

/// The next connection; `None` when the listener has stopped for good.
async fn accept(listener: &mut Listener) -> Option<Accepted> {
    match listener {
        Listener::Tls(tls) => {
            let (stream, _peer) = tls.next().await?;
            let identity = ConnIdentity(stream.issued().clone());
            Some(Accepted::Tls(Box::new(stream), identity))
        }
        Listener::Plain(tcp) => loop {
            match tcp.accept().await {
                Ok((stream, _peer)) => {
                    // Answers are small and latency-bound: never let Nagle hold one back.
                    let _ = stream.set_nodelay(true);
                    return Some(Accepted::Plain(stream));
                }
                // A peer that gave up before we accepted: nothing to do.
                Err(e) if is_connection_error(&e) => continue,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(e) => {
                    tracing::warn!(%e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        },
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Serves one connection on its own task.
fn spawn<I>(io: I, identity: Option<ConnIdentity>, shared: Shared)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let Shared {
            app,
            header_read_timeout,
            mut shutdown,
            alive,
        } = shared;
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            if let Some(id) = &identity {
                req.extensions_mut().insert(ConnectInfo(id.clone()));
            }
            let mut app = app.clone();
            async move { tower_service::Service::call(&mut app, req).await }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        // The watch guard `wait_for` returns is not `Send`: drop it inside its own future.
        let stopping = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = stopping => {
                // Finish the request in hand (its answer is written), then close.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            // Timeouts, resets and malformed requests end here; none is the server's fault.
            tracing::debug!(%e, "connection ended with an error");
        }
        drop(alive);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A plain server; it stops when the returned sender is used or dropped.
    async fn plain(
        app: Router,
        timeout: Duration,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(Listener::Plain(tcp), app, timeout, async move {
            let _ = rx.await;
        }));
        (addr, tx, task)
    }

    fn hello() -> Router {
        Router::new().route("/", axum::routing::get(|| async { "hi" }))
    }

    #[tokio::test]
    async fn a_dribbled_head_is_cut_off_and_others_are_served() {
        let (addr, _stop, _server) = plain(hello(), Duration::from_millis(300)).await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        // Meanwhile a complete request is answered.
        let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        ok.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // The dribbler is closed (hyper sends no answer for a timed-out head; a 408 would
        // be fine too) well before the test's bound.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let _ = slow.write_all(b"X-Slow: a\r\n").await;
                let mut buf = [0u8; 256];
                match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => rest.extend_from_slice(&buf[..n]),
                    Err(_) => {}
                }
            }
        })
        .await;
        assert!(read.is_ok(), "the slow head was never cut off");
        let rest = String::from_utf8_lossy(&rest);
        assert!(
            rest.is_empty() || rest.starts_with("HTTP/1.1 408"),
            "{rest}"
        );
    }

    #[tokio::test]
    async fn shutdown_finishes_the_request_in_hand() {
        let app = Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let (addr, tx, server) = plain(app, Duration::from_secs(30)).await;
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(()).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        // The loop returns once that connection is closed.
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("shutdown completes")
            .unwrap()
            .unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
