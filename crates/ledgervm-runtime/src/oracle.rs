//! The oracle handle: one per call, shared by every host hook that answers a
//! nondeterministic question (random bytes, clocks, HTTP). In live mode it asks the host
//! and records; in replay mode it answers from the transcript and notes the first
//! divergence.
//!
//! Hooks cannot fail (wasmtime-wasi's clock and RNG traits are infallible), so on a
//! divergence the hook returns a neutral answer (zeros) and the runtime stops the guest at
//! its next epoch check (see [`Oracles::diverged`]) and reports the divergence instead of
//! any result.
//!
//! ```
//! use ledgervm_runtime::oracle::Oracles;
//! use ledgervm_runtime::transcript::{CallMode, OracleEvent};
//!
//! let live = Oracles::new(&CallMode::Live, std::time::Instant::now());
//! let mut buf = [0u8; 8];
//! live.random(&mut buf);
//! let (transcript, divergence) = live.finish();
//! assert!(divergence.is_none());
//! assert_eq!(transcript.events, vec![OracleEvent::Random { bytes: buf.to_vec() }]);
//!
//! // Replaying answers the same bytes.
//! let replay = Oracles::new(&CallMode::Replay(transcript.clone()), std::time::Instant::now());
//! let mut again = [0u8; 8];
//! replay.random(&mut again);
//! assert_eq!(again, buf);
//! assert_eq!(replay.finish(), (transcript, None));
//! ```

use crate::error::Divergence;
use crate::transcript::{CallMode, OracleEvent, Transcript};
use parking_lot::Mutex;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Resolution reported for both clocks. A constant rather than the host's, so asking
/// for it is not an oracle.
pub const CLOCK_RESOLUTION_NANOS: u64 = 1_000;

/// Largest single random request a guest may make (`wasi:random` / `random_get`), so a
/// guest cannot make the host record megabytes of randomness in one call.
pub const MAX_RANDOM_BYTES: u64 = 64 * 1024;

#[derive(Debug)]
struct Inner {
    /// Live: the events recorded so far. Replay: the events consumed so far.
    events: Vec<OracleEvent>,
    /// Replay only: the whole transcript being replayed.
    replay: Option<Vec<OracleEvent>>,
    deadline_fuel: Option<u64>,
    divergence: Option<Divergence>,
    mono_origin: Instant,
}

/// Shared handle to one call's oracle state. Cheap to clone; every clone sees the same
/// transcript.
#[derive(Clone, Debug)]
pub struct Oracles {
    inner: Arc<Mutex<Inner>>,
}

impl Oracles {
    /// A handle for one call. `mono_origin` is the origin of live monotonic readings
    /// (the runtime passes its creation instant).
    pub fn new(mode: &CallMode, mono_origin: Instant) -> Oracles {
        let (replay, deadline_fuel) = match mode {
            CallMode::Live => (None, None),
            CallMode::Replay(t) => (Some(t.events.clone()), t.deadline_fuel),
        };
        Oracles {
            inner: Arc::new(Mutex::new(Inner {
                events: Vec::new(),
                replay,
                deadline_fuel,
                divergence: None,
                mono_origin,
            })),
        }
    }

    /// Whether answers come from a transcript.
    pub fn is_replay(&self) -> bool {
        self.inner.lock().replay.is_some()
    }

    /// Whether a replay has diverged (the runtime then stops the guest).
    pub fn diverged(&self) -> bool {
        self.inner.lock().divergence.is_some()
    }

    /// Live mode: appends an answer the caller obtained from the host. Ignored in replay
    /// mode (replayed answers are taken with [`Oracles::next_replay`]).
    pub fn record(&self, event: OracleEvent) {
        let mut g = self.inner.lock();
        if g.replay.is_none() {
            g.events.push(event);
        }
    }

    /// Replay mode: takes the next event if `matches` accepts it; otherwise records a
    /// divergence (`asked` describes the question) and returns `None`. Also `None`, with
    /// no new divergence, after an earlier divergence. Must not be called in live mode
    /// (returns `None` there).
    pub fn next_replay(
        &self,
        asked: &str,
        matches: impl FnOnce(&OracleEvent) -> bool,
    ) -> Option<OracleEvent> {
        let mut g = self.inner.lock();
        if g.divergence.is_some() {
            return None;
        }
        let index = g.events.len();
        let next = g.replay.as_ref()?.get(index).cloned();
        match next {
            Some(ev) if matches(&ev) => {
                g.events.push(ev.clone());
                Some(ev)
            }
            other => {
                g.divergence = Some(Divergence {
                    call_index: None,
                    oracle_index: index,
                    asked: asked.to_string(),
                    expected: other
                        .map(|e| e.describe())
                        .unwrap_or_else(|| "end of transcript".to_string()),
                });
                None
            }
        }
    }

    /// Fills `buf` with random bytes: from the OS in live mode, from the transcript in
    /// replay mode (the event must hold exactly `buf.len()` bytes).
    pub fn random(&self, buf: &mut [u8]) {
        if self.is_replay() {
            let asked = format!("random({} bytes)", buf.len());
            let want = buf.len();
            match self.next_replay(
                &asked,
                |e| matches!(e, OracleEvent::Random { bytes } if bytes.len() == want),
            ) {
                Some(OracleEvent::Random { bytes }) => buf.copy_from_slice(&bytes),
                _ => buf.fill(0),
            }
        } else {
            use rand::RngCore as _;
            rand::rngs::OsRng.fill_bytes(buf);
            self.record(OracleEvent::Random {
                bytes: buf.to_vec(),
            });
        }
    }

    /// Wall-clock time since the Unix epoch.
    pub fn wall_clock(&self) -> Duration {
        if self.is_replay() {
            match self.next_replay("wall clock", |e| matches!(e, OracleEvent::WallClock { .. })) {
                Some(OracleEvent::WallClock { secs, nanos }) => Duration::new(secs, nanos),
                _ => Duration::ZERO,
            }
        } else {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO);
            self.record(OracleEvent::WallClock {
                secs: now.as_secs(),
                nanos: now.subsec_nanos(),
            });
            now
        }
    }

    /// Monotonic clock, nanoseconds since the runtime's origin.
    pub fn monotonic_clock(&self) -> u64 {
        if self.is_replay() {
            match self.next_replay("monotonic clock", |e| {
                matches!(e, OracleEvent::MonotonicClock { .. })
            }) {
                Some(OracleEvent::MonotonicClock { nanos }) => nanos,
                _ => 0,
            }
        } else {
            let origin = self.inner.lock().mono_origin;
            let nanos = u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.record(OracleEvent::MonotonicClock { nanos });
            nanos
        }
    }

    /// Ends the call: the transcript (recorded, or consumed in replay) and the first
    /// divergence. A replay that left events unconsumed diverges with
    /// `asked == "end of call"`.
    pub fn finish(&self) -> (Transcript, Option<Divergence>) {
        let mut g = self.inner.lock();
        let consumed = g.events.len();
        let leftover = match &g.replay {
            Some(all) if g.divergence.is_none() => all.get(consumed).map(OracleEvent::describe),
            _ => None,
        };
        if let Some(expected) = leftover {
            g.divergence = Some(Divergence {
                call_index: None,
                oracle_index: consumed,
                asked: "end of call".to_string(),
                expected,
            });
        }
        let transcript = Transcript {
            events: g.events.clone(),
            deadline_fuel: g.deadline_fuel,
        };
        (transcript, g.divergence.clone())
    }

    /// Installs this handle as every randomness and clock source of a WASI context:
    /// secure and insecure random, a fixed insecure seed, wall and monotonic clocks.
    /// Used for both core modules (p1) and components (p2).
    pub fn configure_wasi(&self, b: &mut wasmtime_wasi::WasiCtxBuilder) {
        b.secure_random(OracleRng(self.clone()))
            .insecure_random(OracleRng(self.clone()))
            // The seed is not recorded, so it must be a constant.
            .insecure_random_seed(0)
            .max_random_size(MAX_RANDOM_BYTES)
            .wall_clock(OracleWallClock(self.clone()))
            .monotonic_clock(OracleMonotonicClock(self.clone()));
    }
}

/// `rand_core` RNG whose every fill is an oracle event.
#[derive(Debug)]
pub struct OracleRng(pub Oracles);

impl rand_core::TryRng for OracleRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.0.random(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.0.random(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.random(dst);
        Ok(())
    }
}

/// `wasi:clocks/wall-clock` backed by the oracle.
#[derive(Debug)]
pub struct OracleWallClock(pub Oracles);

impl wasmtime_wasi::HostWallClock for OracleWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(CLOCK_RESOLUTION_NANOS)
    }

    fn now(&self) -> Duration {
        self.0.wall_clock()
    }
}

/// `wasi:clocks/monotonic-clock` backed by the oracle.
#[derive(Debug)]
pub struct OracleMonotonicClock(pub Oracles);

impl wasmtime_wasi::HostMonotonicClock for OracleMonotonicClock {
    fn resolution(&self) -> u64 {
        CLOCK_RESOLUTION_NANOS
    }

    fn now(&self) -> u64 {
        self.0.monotonic_clock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(events: Vec<OracleEvent>) -> Oracles {
        Oracles::new(
            &CallMode::Replay(Transcript {
                events,
                deadline_fuel: None,
            }),
            Instant::now(),
        )
    }

    #[test]
    fn live_records_in_order_and_replay_reproduces() {
        let live = Oracles::new(&CallMode::Live, Instant::now());
        let mut a = [0u8; 3];
        live.random(&mut a);
        let w = live.wall_clock();
        let m = live.monotonic_clock();
        let (t, d) = live.finish();
        assert!(d.is_none());
        assert_eq!(t.events.len(), 3);
        let r = replay(t.events.clone());
        let mut b = [0u8; 3];
        r.random(&mut b);
        assert_eq!((b, r.wall_clock(), r.monotonic_clock()), (a, w, m));
        assert_eq!(r.finish(), (t, None));
    }

    #[test]
    fn wrong_kind_diverges_with_index_and_question() {
        let r = replay(vec![
            OracleEvent::MonotonicClock { nanos: 1 },
            OracleEvent::Random { bytes: vec![1] },
        ]);
        assert_eq!(r.monotonic_clock(), 1);
        assert_eq!(r.wall_clock(), Duration::ZERO);
        assert!(r.diverged());
        // Later questions do not overwrite the first divergence.
        let mut b = [9u8; 1];
        r.random(&mut b);
        assert_eq!(b, [0]);
        let (t, d) = r.finish();
        assert_eq!(t.events.len(), 1);
        let d = d.unwrap();
        assert_eq!(d.oracle_index, 1);
        assert_eq!(d.asked, "wall clock");
        assert_eq!(d.expected, "random(1 bytes)");
    }

    #[test]
    fn wrong_length_missing_and_extra_events_diverge() {
        let r = replay(vec![OracleEvent::Random { bytes: vec![1, 2] }]);
        let mut b = [0u8; 3];
        r.random(&mut b);
        let d = r.finish().1.unwrap();
        assert_eq!(
            (d.oracle_index, d.asked.as_str(), d.expected.as_str()),
            (0, "random(3 bytes)", "random(2 bytes)")
        );

        let r = replay(vec![]);
        r.wall_clock();
        let d = r.finish().1.unwrap();
        assert_eq!(d.expected, "end of transcript");

        let r = replay(vec![OracleEvent::WallClock { secs: 1, nanos: 2 }]);
        let d = r.finish().1.unwrap();
        assert_eq!((d.oracle_index, d.asked.as_str()), (0, "end of call"));
    }

    #[test]
    fn rng_hook_draws_from_the_oracle() {
        use rand_core::Rng as _;
        let live = Oracles::new(&CallMode::Live, Instant::now());
        let mut rng = OracleRng(live.clone());
        let x = rng.next_u64();
        let (t, _) = live.finish();
        assert_eq!(
            t.events,
            vec![OracleEvent::Random {
                bytes: x.to_le_bytes().to_vec()
            }]
        );
    }
}
