//! Captured stdout/stderr with a hard cap.
//!
//! wasmtime-wasi's `MemoryOutputPipe` answers "closed" once full, which a guest sees as
//! an I/O error and may handle in any way it likes. We want one typed, deterministic
//! outcome instead: the first write that would cross the cap keeps what fits, marks the
//! stream as overflowed and traps the guest; the runtime then reports
//! [`crate::CallError::OutputLimit`].

use bytes::Bytes;
use parking_lot::Mutex;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Permit handed to writers: writes are taken in chunks of at most this size.
const PERMIT: usize = 64 * 1024;

/// The error a guest traps with when it writes past the cap.
#[derive(Debug, thiserror::Error)]
#[error("output limit of {limit} bytes exceeded")]
pub struct OutputLimitExceeded {
    /// The cap.
    pub limit: usize,
}

#[derive(Debug, Default)]
struct Buf {
    data: Vec<u8>,
    overflowed: bool,
}

/// A capped in-memory output stream. Clones share the buffer.
#[derive(Clone, Debug)]
pub struct CappedOutput {
    capacity: usize,
    /// Both streams of a [`CappedOutput::pair`] live in one allocation (a call makes
    /// one pair, and small per-call allocations added up on the hot path).
    bufs: Arc<[Mutex<Buf>; 2]>,
    which: usize,
}

impl CappedOutput {
    /// A stream that accepts at most `capacity` bytes.
    pub fn new(capacity: usize) -> CappedOutput {
        Self::pair(capacity).0
    }

    /// Two independent streams (stdout and stderr) of at most `capacity` bytes each.
    pub fn pair(capacity: usize) -> (CappedOutput, CappedOutput) {
        let bufs = Arc::new([Mutex::new(Buf::default()), Mutex::new(Buf::default())]);
        let stream = |which| CappedOutput {
            capacity,
            bufs: bufs.clone(),
            which,
        };
        (stream(0), stream(1))
    }

    fn buf(&self) -> &Mutex<Buf> {
        &self.bufs[self.which]
    }

    /// The cap, in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends `bytes`; on overflow keeps what fits, marks the stream and fails.
    pub fn append(&self, bytes: &[u8]) -> Result<(), OutputLimitExceeded> {
        let mut b = self.buf().lock();
        if b.overflowed {
            return Err(OutputLimitExceeded {
                limit: self.capacity,
            });
        }
        let room = self.capacity - b.data.len();
        if bytes.len() > room {
            b.data.extend_from_slice(&bytes[..room]);
            b.overflowed = true;
            return Err(OutputLimitExceeded {
                limit: self.capacity,
            });
        }
        b.data.extend_from_slice(bytes);
        Ok(())
    }

    /// Whether a write crossed the cap.
    pub fn overflowed(&self) -> bool {
        self.buf().lock().overflowed
    }

    /// Everything written so far (at most `capacity` bytes).
    pub fn contents(&self) -> Vec<u8> {
        self.buf().lock().data.clone()
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always grant a permit, even past the cap, so the overflowing write reaches
        // `write` and traps instead of the guest seeing a closed stream.
        Ok(PERMIT)
    }
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.append(buf)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_fits_then_refuses() {
        let o = CappedOutput::new(5);
        o.append(b"abc").unwrap();
        assert!(!o.overflowed());
        assert_eq!(o.append(b"defg").unwrap_err().limit, 5);
        assert!(o.overflowed());
        assert_eq!(o.contents(), b"abcde");
        assert!(o.append(b"").is_err(), "stays failed after overflow");
    }

    #[test]
    fn exact_fit_is_fine() {
        let o = CappedOutput::new(3);
        o.append(b"abc").unwrap();
        o.append(b"").unwrap();
        assert!(!o.overflowed());
        assert!(o.append(b"x").is_err());
    }

    #[test]
    fn p2_stream_traps_on_overflow() {
        let o = CappedOutput::new(2);
        let mut s = o.p2_stream();
        assert!(s.check_write().unwrap() > 2);
        s.write(Bytes::from_static(b"ok")).unwrap();
        match s.write(Bytes::from_static(b"!")) {
            Err(StreamError::Trap(e)) => assert!(e.downcast_ref::<OutputLimitExceeded>().is_some()),
            other => panic!("expected a trap, got {other:?}"),
        }
    }
}
