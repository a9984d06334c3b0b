//! Per-call machinery shared by core modules and components: the oracle handle, capped
//! stdout/stderr, the fuel/memory/deadline setup of a fresh `Store`, and the mapping of
//! whatever stopped the guest to one typed [`CallOutcome`].
//!
//! A guest kind (core module, component) uses it like this:
//! 1. [`CallEnv::new`] with the request and resolved limits;
//! 2. build its WASI context from [`CallEnv::wasi_builder`], put a [`CallLimiter`] from
//!    [`CallEnv::limiter`] in the store data, call [`CallEnv::prepare_store`];
//! 3. instantiate and call with `*_async`, wrapped in [`CallEnv::run`];
//! 4. finish with [`CallEnv::outcome`].

use crate::Runtime;
use crate::app::{CallOutcome, CallRequest};
use crate::error::CallError;
use crate::limits::Limits;
use crate::oracle::Oracles;
use crate::output::CappedOutput;
use crate::state::{Caller, SharedState};
use crate::transcript::CallMode;
use crate::value::Value;
use parking_lot::Mutex;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};

/// In replay the wall-clock deadline is this many times the live one: an auditor's
/// machine may be slower, and a replay stopped early only shows up as a mismatch.
pub const REPLAY_DEADLINE_FACTOR: u32 = 4;

/// Extra time on top of the deadline after which a guest that has not reached a fuel
/// slice boundary (blocked in the host, where epochs cannot reach it, or spending a second
/// on a handful of bulk-memory operations) is abandoned. Such a stop's fuel count is only
/// approximate; see [`CallEnv::prepare_store`].
const HOST_BLOCK_GRACE: Duration = Duration::from_secs(1);

/// Fuel is handed to the guest in slices of this many units. At a slice boundary wasmtime
/// saves the exact fuel count into the store and yields, so that is where a deadline stop
/// happens: the fuel recorded for it is then exact, and a replay given exactly that fuel
/// stops at the same instruction. Not part of the fingerprint: slicing does not change
/// where fuel runs out. About 1 ms of guest work per slice on a 2.5 GHz core.
pub const FUEL_SLICE: u64 = 1_000_000;

/// Error a guest is stopped with when the wall-clock deadline fires.
#[derive(Debug, thiserror::Error)]
#[error("wall-clock deadline exceeded")]
pub struct DeadlineExceeded;

/// Error a guest is stopped with after its replay diverged.
#[derive(Debug, thiserror::Error)]
#[error("replay diverged; stopping the guest")]
pub struct DivergenceStop;

/// Error a host function traps with when the state backend fails: the call then ends
/// as [`CallError::Internal`], never as a guest-visible error code, because a backend
/// failure is not a function of the log.
#[derive(Debug, thiserror::Error)]
#[error("state backend failed: {0}")]
pub struct StateBackendFailure(pub String);

/// Which phase an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Creating the instance (including data segments and the pooling slot).
    Instantiate,
    /// Running guest code (`_start`, `_initialize` or the export).
    Run,
}

/// What the store's callbacks tell [`CallEnv`] about a call, in one allocation.
#[derive(Debug, Default)]
struct CallFlags {
    /// The wall-clock deadline has passed (set by the epoch callback or the backstop).
    deadline_hit: AtomicBool,
    /// Why the limiter refused a memory or table growth, if it did.
    refused: Mutex<Option<String>>,
}

/// Memory and table limiter for one store. A refusal is remembered so that a trap that
/// follows it is reported as [`CallError::MemoryLimit`].
#[derive(Debug)]
pub struct CallLimiter {
    max_memory: usize,
    max_table: usize,
    flags: Arc<CallFlags>,
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.flags.refused.lock().get_or_insert_with(|| {
                format!(
                    "memory growth from {current} to {desired} bytes refused (limit {})",
                    self.max_memory
                )
            });
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_table {
            self.flags.refused.lock().get_or_insert_with(|| {
                format!(
                    "table growth from {current} to {desired} elements refused (limit {})",
                    self.max_table
                )
            });
            return Ok(false);
        }
        Ok(true)
    }
}

/// The parts of a call's WASI context, kept so the context can be built when first
/// needed. Building one (descriptor table, boxed clocks and RNGs, wasmtime-wasi seeding
/// its default RNG from the thread RNG) was about a tenth of a trivial call, and a
/// reactor export that only computes never touches WASI.
#[derive(Clone)]
pub struct WasiSetup {
    stdout: CappedOutput,
    stderr: CappedOutput,
    oracles: Oracles,
}

impl WasiSetup {
    /// The builder: capped stdout/stderr, empty stdin, oracle random and clocks, no
    /// sockets or name lookups.
    pub fn builder(&self) -> wasmtime_wasi::WasiCtxBuilder {
        let mut b = wasmtime_wasi::WasiCtxBuilder::new();
        b.stdout(self.stdout.clone())
            .stderr(self.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        self.oracles.configure_wasi(&mut b);
        b
    }
}

/// The host side of one call.
pub struct CallEnv {
    /// Random, clocks (and HTTP) answers, recorded or replayed.
    pub oracles: Oracles,
    /// Limits in force.
    pub limits: Limits,
    /// Fuel given to the store (the limit, or the recorded deadline fuel in replay).
    pub fuel: u64,
    /// Captured stdout.
    pub stdout: CappedOutput,
    /// Captured stderr.
    pub stderr: CappedOutput,
    /// Who is calling.
    pub caller: Caller,
    /// The app's state.
    pub state: SharedState,
    replay_deadline_fuel: Option<u64>,
    deadline: Duration,
    started: Instant,
    flags: Arc<CallFlags>,
}

impl CallEnv {
    /// Sets up the host side of `req` under `limits`.
    pub fn new(rt: &Runtime, req: &CallRequest, limits: Limits, state: SharedState) -> CallEnv {
        let oracles = Oracles::new(&req.mode, rt.monotonic_origin());
        let (replay_deadline_fuel, deadline) = match &req.mode {
            CallMode::Live => (None, limits.deadline),
            CallMode::Replay(t) => (t.deadline_fuel, limits.deadline * REPLAY_DEADLINE_FACTOR),
        };
        let fuel = replay_deadline_fuel.map_or(limits.fuel, |f| f.min(limits.fuel));
        let (stdout, stderr) = CappedOutput::pair(limits.max_output_bytes);
        CallEnv {
            stdout,
            stderr,
            caller: req.caller.clone(),
            oracles,
            fuel,
            limits,
            state,
            replay_deadline_fuel,
            deadline,
            started: Instant::now(),
            flags: Arc::default(),
        }
    }

    /// A WASI context builder with only what ledgervm offers: capped stdout/stderr, empty
    /// stdin, oracle-backed random and clocks. No filesystem, environment, arguments or
    /// network (wasmtime-wasi's defaults grant none of them).
    pub fn wasi_builder(&self) -> wasmtime_wasi::WasiCtxBuilder {
        self.wasi_setup().builder()
    }

    /// What [`CallEnv::wasi_builder`] needs, to build the context later (core modules
    /// build it on the guest's first WASI call; see [`WasiSetup`]).
    pub fn wasi_setup(&self) -> WasiSetup {
        WasiSetup {
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
            oracles: self.oracles.clone(),
        }
    }

    /// A limiter to keep in the store data (see [`CallEnv::prepare_store`]).
    pub fn limiter(&self) -> CallLimiter {
        CallLimiter {
            max_memory: usize::try_from(self.limits.max_memory_bytes).unwrap_or(usize::MAX),
            max_table: usize::try_from(self.limits.max_table_elements).unwrap_or(usize::MAX),
            flags: self.flags.clone(),
        }
    }

    /// Gives the store its fuel, limiter and deadline. `limiter` projects the store data
    /// to the [`CallLimiter`] from [`CallEnv::limiter`].
    ///
    /// Why the deadline does not simply trap in the epoch callback: compiled code keeps
    /// the fuel counter in a register and only writes it back to the store at calls,
    /// returns and fuel-slice boundaries, not at epoch checks. A trap at an epoch check
    /// would record a stale fuel count (0 for a loop that makes no calls), and a replay
    /// given that fuel would stop somewhere else. So when the deadline passes the epoch
    /// callback only raises a flag, and [`CallEnv::run`] stops the guest at its next fuel
    /// slice boundary ([`FUEL_SLICE`]), where the count is exact. Only if no boundary
    /// comes within [`HOST_BLOCK_GRACE`] does the callback trap (approximate fuel).
    pub fn prepare_store<T: 'static>(
        &self,
        store: &mut Store<T>,
        limiter: impl FnMut(&mut T) -> &mut CallLimiter + Send + Sync + 'static,
    ) -> Result<(), CallError> {
        let mut limiter = limiter;
        store.limiter(move |t| limiter(t) as &mut dyn wasmtime::ResourceLimiter);
        store
            .fuel_async_yield_interval(Some(FUEL_SLICE))
            .map_err(CallError::internal)?;
        store.set_fuel(self.fuel).map_err(CallError::internal)?;
        store.set_epoch_deadline(1);
        let oracles = self.oracles.clone();
        let deadline_at = self.started + self.deadline;
        let hard_stop_at = deadline_at + HOST_BLOCK_GRACE;
        let flags = self.flags.clone();
        store.epoch_deadline_callback(move |_| {
            if oracles.diverged() {
                return Err(wasmtime::Error::new(DivergenceStop));
            }
            let now = Instant::now();
            if now >= hard_stop_at {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            if now >= deadline_at {
                // No yield from here on: the next suspension must be a fuel-slice
                // boundary (exact fuel), which is where `run` stops the guest.
                flags.deadline_hit.store(true, Ordering::Relaxed);
                return Ok(UpdateDeadline::Continue(1));
            }
            // Yield to tokio once per tick so a long call does not hog a worker thread.
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(())
    }

    /// Runs `fut` (guest code). Once the epoch callback has flagged the deadline, the
    /// guest is stopped at its next suspension, a fuel-slice boundary (see
    /// [`CallEnv::prepare_store`]); dropping the future there leaves the exact fuel count
    /// in the store. A wall-clock backstop catches guests blocked inside a host call,
    /// where epoch checks cannot fire. Both stops count as the deadline.
    pub async fn run<R, F>(
        &self,
        mut fut: std::pin::Pin<&mut F>,
    ) -> Result<R, (wasmtime::Error, Stage)>
    where
        F: Future<Output = Result<R, (wasmtime::Error, Stage)>>,
    {
        let stop_at =
            tokio::time::Instant::from_std(self.started + self.deadline + HOST_BLOCK_GRACE);
        let hit = &self.flags.deadline_hit;
        // The backstop timer is armed only once the guest first suspends: most calls
        // finish within their first poll, and registering and cancelling a tokio timer
        // for each of them was a measurable share of a trivial call.
        let mut backstop: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        std::future::poll_fn(|cx| {
            match fut.as_mut().poll(cx) {
                Poll::Ready(r) => return Poll::Ready(r),
                Poll::Pending if hit.load(Ordering::Relaxed) => {
                    return Poll::Ready(Err((wasmtime::Error::new(DeadlineExceeded), Stage::Run)));
                }
                Poll::Pending => {}
            }
            let timer = backstop.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(stop_at)));
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    hit.store(true, Ordering::Relaxed);
                    Poll::Ready(Err((wasmtime::Error::new(DeadlineExceeded), Stage::Run)))
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Maps an error that stopped the guest to a [`CallError`]. The order matters:
    /// a divergence explains everything after it; an output overflow or the deadline
    /// explain the trap they caused.
    pub fn classify(&self, err: &wasmtime::Error, stage: Stage, fuel_consumed: u64) -> CallError {
        if let (_, Some(d)) = self.oracles.finish() {
            return CallError::Divergence(d);
        }
        if self.stdout.overflowed() || self.stderr.overflowed() {
            return CallError::OutputLimit {
                limit: self.limits.max_output_bytes,
            };
        }
        if self.flags.deadline_hit.load(Ordering::Relaxed)
            || err.downcast_ref::<DeadlineExceeded>().is_some()
        {
            return CallError::Deadline { fuel_consumed };
        }
        if let Some(f) = err.downcast_ref::<StateBackendFailure>() {
            return CallError::internal(f);
        }
        let refused = self.flags.refused.lock().clone();
        if let Some(trap) = err.downcast_ref::<Trap>() {
            return match trap {
                Trap::OutOfFuel if self.replay_deadline_fuel.is_some() => {
                    CallError::Deadline { fuel_consumed }
                }
                Trap::OutOfFuel => CallError::OutOfFuel,
                Trap::StackOverflow => CallError::StackOverflow,
                Trap::Interrupt => CallError::Deadline { fuel_consumed },
                other => match refused {
                    Some(message) => CallError::MemoryLimit {
                        message: format!("{message}; then {other}"),
                    },
                    None => CallError::Trap {
                        code: trap_code(other),
                        message: other.to_string(),
                    },
                },
            };
        }
        if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return CallError::Trap {
                code: "exit".into(),
                message: format!("guest exited with status {}", exit.0),
            };
        }
        if let Some(message) = refused {
            return CallError::MemoryLimit { message };
        }
        match stage {
            // Pool exhaustion, OS allocation failure, …: not the guest's doing.
            Stage::Instantiate => CallError::internal(format!("instantiate: {err:#}")),
            // A host function refused the guest (bad pointer into WASI, …).
            Stage::Run => CallError::Trap {
                code: "host".into(),
                message: err.root_cause().to_string(),
            },
        }
    }

    /// Builds the outcome. `fuel_remaining` is `store.get_fuel()` after the call.
    pub fn outcome(
        &self,
        fuel_remaining: u64,
        result: Result<Vec<Value>, (wasmtime::Error, Stage)>,
    ) -> CallOutcome {
        let fuel_consumed = self.fuel.saturating_sub(fuel_remaining);
        let (transcript, divergence) = self.oracles.finish();
        let result = match result {
            Ok(values) => match divergence {
                Some(d) => Err(CallError::Divergence(d)),
                None => Ok(values),
            },
            Err((e, stage)) => Err(self.classify(&e, stage, fuel_consumed)),
        };
        self.outcome_from(transcript, fuel_consumed, result)
    }

    /// The common tail of a call, for both guest kinds: prepares `store`
    /// ([`CallEnv::prepare_store`], `limiter` as there), runs `guest` on it under
    /// [`CallEnv::run`], reads the fuel left, converts the results with `convert` and
    /// builds the outcome.
    pub async fn execute<T: 'static, V, E>(
        &self,
        mut store: Store<T>,
        limiter: impl FnMut(&mut T) -> &mut CallLimiter + Send + Sync + 'static,
        guest: impl AsyncFnOnce(&mut Store<T>) -> Result<Vec<V>, (wasmtime::Error, Stage)>,
        convert: impl Fn(&V) -> Result<Value, E>,
    ) -> CallOutcome
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        if let Err(e) = self.prepare_store(&mut store, limiter) {
            return self.outcome_with(0, Err(e));
        }
        let result = {
            // Pinned here and lent to `run`: a future passed by value is stored twice in
            // the caller's state (as the argument and as the pinned local), and this
            // one holds wasmtime's ~1 KiB instantiation future.
            let guest = std::pin::pin!(guest(&mut store));
            self.run(guest).await
        };
        // After a deadline stop the guest future is gone and the store holds the exact
        // count of the fuel-slice boundary it stopped at.
        let fuel_left = store.get_fuel().unwrap_or(0);
        let result = result.and_then(|vals| {
            vals.iter()
                .map(&convert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| (wasmtime::Error::new(e), Stage::Run))
        });
        self.outcome(fuel_left, result)
    }

    /// The outcome of a call refused before any guest code ran (bad arguments, …), with
    /// this call's (empty) transcript.
    pub fn refuse(&self, err: CallError) -> CallOutcome {
        self.outcome_with(0, Err(err))
    }

    /// Builds the outcome from an already-typed result (e.g. a conversion error).
    pub fn outcome_with(
        &self,
        fuel_consumed: u64,
        result: Result<Vec<Value>, CallError>,
    ) -> CallOutcome {
        self.outcome_from(self.oracles.finish().0, fuel_consumed, result)
    }

    fn outcome_from(
        &self,
        mut transcript: crate::transcript::Transcript,
        fuel_consumed: u64,
        result: Result<Vec<Value>, CallError>,
    ) -> CallOutcome {
        if let Err(CallError::Deadline { fuel_consumed }) = &result {
            transcript.deadline_fuel = Some(*fuel_consumed);
        }
        CallOutcome {
            result,
            fuel_consumed,
            transcript,
            stdout: self.stdout.contents(),
            stderr: self.stderr.contents(),
        }
    }
}

/// wasmtime's trap name in snake_case (`UnreachableCodeReached` →
/// `unreachable_code_reached`). Stable for a wasmtime version, which the engine
/// fingerprint pins.
pub fn trap_code(t: &Trap) -> String {
    let name = format!("{t:?}");
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_codes_are_snake_case() {
        assert_eq!(
            trap_code(&Trap::UnreachableCodeReached),
            "unreachable_code_reached"
        );
        assert_eq!(
            trap_code(&Trap::IntegerDivisionByZero),
            "integer_division_by_zero"
        );
        assert_eq!(trap_code(&Trap::MemoryOutOfBounds), "memory_out_of_bounds");
    }
}
