//! Re-executing the log: every call in replay mode, against state rebuilt exactly as the
//! node builds it (`ledgervm_node::state`: a per-call overlay whose writes apply only
//! when the call returned results; state carried over when an app is re-loaded while
//! loaded, dropped on unload), compared field by field with its record.
//!
//! # Why calls can replay in parallel and still find the *first* divergence
//! The state a call sees in a sequential replay is the state produced by the calls
//! before it. Up to the first divergence, every replayed write set equals the recorded
//! one (a difference *is* a divergence), so that state equals the state built from the
//! *recorded* write sets. The replayer therefore builds state from the records, in log
//! order, and hands each call a snapshot of it; calls then run concurrently. Any
//! divergence found is real, and the lowest-indexed one is the one a sequential replay
//! would have stopped at. Snapshots are shared while no write intervenes and copied on
//! write otherwise.
//!
//! # State generations, digests and private apps
//! State belongs to a *generation* named by the app and its key id (as on the node): a
//! re-load under the same key carries state over, even after an unload (a BYOK
//! reload); a new key starts empty. Each call record's `state_digest` is checked
//! against the LtHash of the state rebuilt from the recorded write sets. Calls of
//! private apps are opened with the key the auditor was given; without it they (and
//! every later call of that generation, whose starting state is then unknown) are
//! counted as skipped, never as replayed.

use super::callers::Proof;
use super::source::Source;
use super::{Divergence, DivergenceKind, EngineMismatch};
use crate::error::ClientError;
use indicatif::ProgressBar;
use ledgervm_node::digest::LtHash;
use ledgervm_node::record::{CallRecord, Load, Outcome, Record};
use ledgervm_node::secret::AppKey;
use ledgervm_node::state::{AppState, Overlay, StateBase, apply, update_digest};
use ledgervm_runtime::state::SharedState;
use ledgervm_runtime::{CallMode, CallRequest, Limits, LoadedApp, Runtime};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::task::JoinSet;

/// States up to this many keys are copied when a call writes, so calls keep running in
/// parallel; larger ones are updated in place after the calls reading them finish.
const COPY_LIMIT: usize = 4096;

/// A loaded app as the replay sees it.
struct Slot {
    load_index: u64,
    code_hash: String,
    limits: Limits,
    /// `None`: its calls cannot be replayed here (another engine); they are skipped.
    app: Option<LoadedApp>,
    /// State generation: (name, key id).
    generation: (String, String),
    max_keys: u64,
    private: bool,
}

/// One state generation as rebuilt from recorded write sets.
struct Generation {
    /// State as of the next call.
    state: AppState,
    digest: LtHash,
    /// A private call could not be opened: the state from here on is unknown.
    unknown: bool,
}

/// The replay state machine, fed records in log order.
pub(crate) struct Replayer<'a> {
    runtime: Runtime,
    source: &'a Source,
    apps: HashMap<String, Slot>,
    generations: HashMap<(String, String), Generation>,
    /// App keys the auditor holds, by key id.
    keys: HashMap<String, AppKey>,
    /// Compiled modules by code hash (a re-load of the same module compiles once).
    compiled: HashMap<String, LoadedApp>,
    running: JoinSet<Option<Divergence>>,
    max_in_flight: usize,
    progress: ProgressBar,
    /// Lowest-indexed divergence found so far.
    pub(crate) first: Option<Divergence>,
    /// Lowest-indexed state digest mismatch (merged after the replay, yielding to a
    /// replay divergence at the same index).
    pub(crate) digest_first: Option<Divergence>,
    pub(crate) calls_replayed: u64,
    pub(crate) calls_skipped: u64,
    pub(crate) private_skipped: u64,
    pub(crate) engine_mismatches: Vec<EngineMismatch>,
    /// The log's origin, which caller signatures bind to.
    origin: String,
    pub(crate) signed_requests: u64,
    pub(crate) unauthenticated_calls: u64,
    /// Every signed request so far, so a replayed one is caught.
    signed_once: super::callers::SignedOnce,
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("<unserializable: {e}>"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn diverged(
    index: u64,
    what: DivergenceKind,
    expected: impl Into<String>,
    got: impl Into<String>,
) -> Divergence {
    Divergence {
        index,
        what,
        expected: expected.into(),
        got: got.into(),
    }
}

/// Runs one recorded call in replay mode and compares it with its record.
async fn replay_call(
    index: u64,
    app: LoadedApp,
    limits: Limits,
    (state, max_keys): (AppState, u64),
    call: Box<CallRecord>,
) -> Option<Divergence> {
    let base: Arc<dyn StateBase> = state;
    let overlay = Arc::new(parking_lot::Mutex::new(Overlay::new(base, max_keys)));
    let shared: SharedState = overlay.clone();
    let req = CallRequest {
        func: call.func.clone(),
        args: call.args.clone(),
        mode: CallMode::Replay(call.transcript.clone()),
        caller: call.caller.clone(),
        limits: Some(limits),
    };
    let out = app.call(req, shared).await;
    let outcome: Outcome = match out.result {
        Err(ledgervm_runtime::CallError::Divergence(mut d)) => {
            d.call_index = Some(index);
            Outcome::Err(ledgervm_runtime::CallError::Divergence(d))
        }
        other => other.into(),
    };
    let writes = match &outcome {
        Outcome::Ok(_) => overlay.lock().take_write_set(),
        Outcome::Err(_) => Vec::new(),
    };
    // Compare structurally (cheap); render only what differs.
    use DivergenceKind as K;
    let found = if call.outcome != outcome {
        Some((K::Outcome, json(&call.outcome), json(&outcome)))
    } else if call.fuel != out.fuel_consumed {
        Some((
            K::Fuel,
            call.fuel.to_string(),
            out.fuel_consumed.to_string(),
        ))
    } else if call.stdout != out.stdout {
        Some((K::Stdout, text(&call.stdout), text(&out.stdout)))
    } else if call.stderr != out.stderr {
        Some((K::Stderr, text(&call.stderr), text(&out.stderr)))
    } else if call.write_set != writes {
        Some((K::WriteSet, json(&call.write_set), json(&writes)))
    } else if call.transcript != out.transcript {
        Some((K::Transcript, json(&call.transcript), json(&out.transcript)))
    } else {
        None
    };
    found.map(|(what, expected, got)| diverged(index, what, expected, got))
}

impl<'a> Replayer<'a> {
    pub(crate) fn new(
        runtime: Runtime,
        source: &'a Source,
        progress: ProgressBar,
        origin: String,
        keys: &[AppKey],
    ) -> Replayer<'a> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Replayer {
            runtime,
            source,
            apps: HashMap::new(),
            generations: HashMap::new(),
            keys: keys.iter().map(|k| (k.key_id(), k.clone())).collect(),
            compiled: HashMap::new(),
            running: JoinSet::new(),
            max_in_flight: (cores * 4).max(8),
            progress,
            first: None,
            digest_first: None,
            calls_replayed: 0,
            calls_skipped: 0,
            private_skipped: 0,
            engine_mismatches: Vec::new(),
            origin,
            signed_requests: 0,
            signed_once: Default::default(),
            unauthenticated_calls: 0,
        }
    }

    fn found(&mut self, d: Divergence) {
        super::keep_first(&mut self.first, d);
    }

    fn found_digest(&mut self, d: Divergence) {
        super::keep_first(&mut self.digest_first, d);
    }

    async fn reap_one(&mut self) -> Result<(), ClientError> {
        if let Some(r) = self.running.join_next().await {
            let r = r.map_err(|e| ClientError::Audit(format!("replay task failed: {e}")))?;
            self.calls_replayed += 1;
            self.progress.inc(1);
            if let Some(d) = r {
                self.found(d);
            }
        }
        Ok(())
    }

    /// Waits for every call in flight.
    pub(crate) async fn finish(&mut self) -> Result<(), ClientError> {
        while !self.running.is_empty() {
            self.reap_one().await?;
        }
        Ok(())
    }

    /// Counts the record's caller proof, or records a divergence and returns false.
    fn caller_proof_holds(&mut self, index: u64, record: &Record) -> bool {
        match super::callers::check(&self.origin, record) {
            Proof::Anonymous => {}
            Proof::Signed => {
                if let Err(first) = self.signed_once.note(index, record) {
                    let expected = format!("a signed request used once (it is entry {first})");
                    let got = "the same signed request again".to_string();
                    self.found(diverged(index, DivergenceKind::CallerAuth, expected, got));
                    return false;
                }
                self.signed_requests += 1
            }
            Proof::Unauthenticated => self.unauthenticated_calls += 1,
            Proof::Broken(expected, got) => {
                self.found(diverged(index, DivergenceKind::CallerAuth, expected, got));
                return false;
            }
        }
        true
    }

    /// Applies record `index`. Divergences land in [`Replayer::first`]; a call may still
    /// be running when this returns.
    pub(crate) async fn step(&mut self, index: u64, record: Record) -> Result<(), ClientError> {
        // Who asked is checked before what happened: a forged caller is a divergence even
        // when the call itself replays identically.
        if !self.caller_proof_holds(index, &record) {
            return Ok(());
        }
        match record {
            Record::Config(_) | Record::Blob(_) => Ok(()),
            Record::Load(load) => {
                // A load's compile error or export mismatch is found here, in order.
                if let Some(d) = self.load(index, &load).await? {
                    self.found(d);
                }
                Ok(())
            }
            Record::Unload(u) => {
                match self.apps.get(&u.name) {
                    Some(s) if s.code_hash == u.code_hash && s.load_index == u.load_index => {
                        self.apps.remove(&u.name);
                    }
                    other => {
                        let expected = other.map_or("no such app loaded".to_string(), |s| {
                            format!(
                                "{} loaded at {} with code {}",
                                u.name, s.load_index, s.code_hash
                            )
                        });
                        let got = format!(
                            "unload of {} (load {}, code {})",
                            u.name, u.load_index, u.code_hash
                        );
                        self.found(diverged(index, DivergenceKind::App, expected, got));
                    }
                }
                Ok(())
            }
            Record::Call(call) => {
                if self.apps.get(&call.app).is_some_and(|s| s.private) {
                    let got = "a public call record".to_string();
                    let d = diverged(index, DivergenceKind::App, "a private call", got);
                    self.found(d);
                    return Ok(());
                }
                self.call(index, call).await
            }
            Record::PrivateCall(p) => {
                let slot = self.apps.get(&p.app);
                if slot.is_some_and(|s| !s.private) {
                    let expected = "a public call record".to_string();
                    let d = diverged(index, DivergenceKind::App, expected, "a private call");
                    self.found(d);
                    return Ok(());
                }
                let generation = slot.map(|s| s.generation.clone());
                let key = generation.as_ref().and_then(|g| self.keys.get(&g.1));
                match (key, generation) {
                    (Some(key), _) => match p.open(key) {
                        Ok(call) => {
                            // A private call's signature covers its sealed args, so it is
                            // checked only now that they are open.
                            let opened = Record::Call(Box::new(call));
                            if !self.caller_proof_holds(index, &opened) {
                                return Ok(());
                            }
                            let Record::Call(call) = opened else {
                                unreachable!("built above")
                            };
                            self.call(index, call).await
                        }
                        Err(e) => {
                            let d = diverged(
                                index,
                                DivergenceKind::Sealed,
                                "a payload sealed under the app key",
                                e.to_string(),
                            );
                            self.found(d);
                            Ok(())
                        }
                    },
                    (None, Some(g)) => {
                        self.private_skipped += 1;
                        if let Some(g) = self.generations.get_mut(&g) {
                            g.unknown = true;
                        }
                        Ok(())
                    }
                    // Not loaded: `call` reports it.
                    (None, None) => {
                        let got = format!("call to {:?}, which is not loaded", p.app);
                        self.found(diverged(index, DivergenceKind::App, "a loaded app", got));
                        Ok(())
                    }
                }
            }
        }
    }

    async fn load(&mut self, index: u64, load: &Load) -> Result<Option<Divergence>, ClientError> {
        // State belongs to the generation (name, key id): created on first use, carried
        // over by re-loads under the same key.
        let generation = (load.name.clone(), load.key_id.clone());
        self.generations
            .entry(generation.clone())
            .or_insert_with(|| Generation {
                state: AppState::default(),
                digest: LtHash::new(),
                unknown: false,
            });
        let local = self.runtime.fingerprint().clone();
        let app = if load.engine != local {
            self.engine_mismatches.push(EngineMismatch {
                load_index: index,
                app: load.name.clone(),
                recorded: load.engine.clone(),
                local,
            });
            None
        } else if let Some(app) = self.compiled.get(&load.code_hash) {
            Some(app.clone())
        } else {
            let Some(module) = self.source.blob(&load.code_hash).await? else {
                return Ok(Some(diverged(
                    index,
                    DivergenceKind::Blob,
                    format!("module blob {}", load.code_hash),
                    "not found",
                )));
            };
            let got = ledgervm_node::ids::sha256_hex(&module);
            if got != load.code_hash || module.len() as u64 != load.size {
                let d = diverged(
                    index,
                    DivergenceKind::Blob,
                    format!("module {}", load.code_hash),
                    format!("bytes hashing to {got}"),
                );
                return Ok(Some(d));
            }
            let rt = self.runtime.clone();
            let loaded = tokio::task::spawn_blocking(move || rt.load(&module))
                .await
                .map_err(|e| ClientError::Audit(format!("compile task failed: {e}")))?;
            let app = match loaded {
                Ok(app) => app,
                Err(e) => {
                    let d = diverged(
                        index,
                        DivergenceKind::Exports,
                        "a module this engine loads",
                        format!("load error: {e}"),
                    );
                    return Ok(Some(d));
                }
            };
            let exports: Vec<_> = app
                .exports()
                .iter()
                .map(|(n, t)| (n.clone(), t.clone()))
                .collect();
            let recorded: Vec<_> = load
                .exports
                .iter()
                .map(|e| (e.name.clone(), e.ty.clone()))
                .collect();
            if exports != recorded || app.kind() != load.app_kind {
                let expected = format!("{:?} {}", load.app_kind, json(&load.exports));
                let d = diverged(
                    index,
                    DivergenceKind::Exports,
                    expected,
                    format!("{:?} {:?}", app.kind(), exports),
                );
                return Ok(Some(d));
            }
            self.compiled.insert(load.code_hash.clone(), app.clone());
            Some(app)
        };
        let slot = Slot {
            load_index: index,
            code_hash: load.code_hash.clone(),
            limits: load.limits.clone(),
            app,
            generation,
            max_keys: load.max_keys,
            private: load.private,
        };
        self.apps.insert(load.name.clone(), slot);
        Ok(None)
    }

    async fn call(&mut self, index: u64, call: Box<CallRecord>) -> Result<(), ClientError> {
        let Some(slot) = self.apps.get_mut(&call.app) else {
            let got = format!("call to {:?}, which is not loaded", call.app);
            self.found(diverged(index, DivergenceKind::App, "a loaded app", got));
            return Ok(());
        };
        if slot.code_hash != call.code_hash || slot.load_index != call.load_index {
            let expected = format!("code {} loaded at {}", slot.code_hash, slot.load_index);
            let got = format!("code {} loaded at {}", call.code_hash, call.load_index);
            self.found(diverged(index, DivergenceKind::App, expected, got));
            return Ok(());
        }
        let (generation, max_keys, limits) =
            (slot.generation.clone(), slot.max_keys, slot.limits.clone());
        let app = slot.app.clone();
        let Some(g) = self.generations.get_mut(&generation) else {
            return Err(ClientError::Audit(
                "generation of a loaded app missing".into(),
            ));
        };
        if g.unknown {
            // An earlier private call could not be opened: the state is unknown.
            self.private_skipped += 1;
            return Ok(());
        }
        // The recorded state digest must follow from the recorded write set.
        let writes: &[_] = match call.outcome {
            Outcome::Ok(_) => &call.write_set,
            Outcome::Err(_) => &[],
        };
        let mut digest = g.digest.clone();
        let digest_divergence = match update_digest(&mut digest, &*g.state, writes) {
            Ok(()) if digest.digest() == call.state_digest => None,
            Ok(()) => Some(diverged(
                index,
                DivergenceKind::StateDigest,
                call.state_digest.clone(),
                digest.digest(),
            )),
            Err(e) => Some(diverged(
                index,
                DivergenceKind::WriteSet,
                "a valid write set",
                e.to_string(),
            )),
        };
        g.digest = digest;
        let Some(app) = app else {
            if !writes.is_empty() {
                apply(&mut g.state.lock(), writes);
            }
            self.calls_skipped += 1;
            if let Some(d) = digest_divergence {
                self.found_digest(d);
            }
            return Ok(());
        };
        let state = g.state.clone();
        let writes = matches!(call.outcome, Outcome::Ok(_)) && !call.write_set.is_empty();
        if !writes {
            if let Some(d) = digest_divergence {
                self.found_digest(d);
            }
            return self
                .spawn(replay_call(index, app, limits, (state, max_keys), call))
                .await;
        }
        // Later calls see this call's recorded writes (a divergent write set is reported
        // by this call's own check).
        let write_set = call.write_set.clone();
        if state.lock().map.len() <= COPY_LIMIT {
            // Copy on write: this call keeps the state before, later calls get the next.
            let next = state.lock().clone();
            let next = Arc::new(parking_lot::Mutex::new(next));
            apply(&mut next.lock(), &write_set);
            g.state = next;
            if let Some(d) = digest_divergence {
                self.found_digest(d);
            }
            return self
                .spawn(replay_call(index, app, limits, (state, max_keys), call))
                .await;
        }
        // Too big to copy per call: run this one alone, then update in place.
        if let Some(d) = digest_divergence {
            self.found_digest(d);
        }
        self.finish().await?;
        let d = replay_call(index, app, limits, (state.clone(), max_keys), call).await;
        self.calls_replayed += 1;
        self.progress.inc(1);
        if let Some(d) = d {
            self.found(d);
        }
        apply(&mut state.lock(), &write_set);
        Ok(())
    }

    async fn spawn(
        &mut self,
        job: impl Future<Output = Option<Divergence>> + Send + 'static,
    ) -> Result<(), ClientError> {
        while self.running.len() >= self.max_in_flight {
            self.reap_one().await?;
        }
        self.running.spawn(job);
        Ok(())
    }
}
