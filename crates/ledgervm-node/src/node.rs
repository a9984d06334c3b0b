//! The node: one log, one runtime, the registry, and the call pipeline.
//!
//! authorize → take the app's lock → fresh instance → run under limits with live oracles
//! → build the record → hand it to the sequencer (fixes its index) → release the lock →
//! group commit → answer with result + receipt. A caller never sees a result that is not
//! durable: [`Node::call`] returns only after the log's commit covers the record.

use crate::authz::{AdminAsk, AuthOptions, Authorizer, Requester};
mod apps;
mod kvops;
mod log_reads;
mod recover;

pub use kvops::KvValue;
pub use log_reads::LogStats;
use log_reads::receipt;

use crate::blobs::BlobStore;
use crate::error::NodeError;
use crate::ids::{cid_v1_raw, is_valid_app_name};
use crate::kv::keys::KeyVault;
use crate::kv::{DEFAULT_MAX_KEYS, KvStore};
use crate::receipt::Receipt;
use crate::record::{CallPolicy, CallRecord, Config, ExportInfo, Load, Outcome, Record, Unload};
use crate::registry::{AppInfo, AppSlot, Registry};
use crate::secret::{AppKey, KeySource};
use crate::state::{self, Overlay, StateBase};
use ledgervm_runtime::state::SharedState;
use ledgervm_runtime::value::Value;
use ledgervm_runtime::{
    CallError, CallMode, CallRequest, EngineFingerprint, Limits, Runtime, RuntimeConfig,
};
use parking_lot::{Mutex, RwLock};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How to open a node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Data directory: `log/` (tlog-tiles), `blobs/`, `cache/`, `log.key`.
    pub data_dir: PathBuf,
    /// Checkpoint origin (and log key name) for a new log.
    pub origin: String,
    /// Engine and pool settings.
    pub runtime: RuntimeConfig,
    /// Largest group-commit batch.
    pub max_batch: usize,
    /// Longest a batch waits to fill. Default zero: take what is queued, which already
    /// batches under load, because calls queue up while the previous batch commits.
    /// A wait is a tokio timer, and tokio's timers tick in whole milliseconds, so the
    /// former 0.5 ms default really held every batch 1–2 ms: in `ledgervm bench` zero
    /// gave 16–21k durable calls/s against 14–16k, and halved the half-rate p50
    /// (docs/BENCHMARKS.md, 2026-11-22 session 2).
    pub max_wait: Duration,
    /// Admin key, `--debug` users, timestamp skew.
    pub auth: AuthOptions,
    /// Most keys per app when a load does not say.
    pub max_keys: u64,
    /// Fault injection at each of the log storage's write steps, for the disk-fault
    /// suite (a step fails with `ENOSPC`/`EIO`). Always `None` in production.
    pub storage_faults: Option<Arc<ledgervm_log::storage::FaultInjector>>,
}

impl NodeOptions {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> NodeOptions {
        NodeOptions {
            data_dir: data_dir.into(),
            origin: "localhost/ledgervm".into(),
            runtime: RuntimeConfig::default(),
            max_batch: 256,
            max_wait: Duration::ZERO,
            auth: AuthOptions::default(),
            max_keys: DEFAULT_MAX_KEYS,
            storage_faults: None,
        }
    }
}

/// What to load.
#[derive(Clone, Debug)]
pub struct LoadRequest {
    /// App name.
    pub name: String,
    /// Module bytes (binary Wasm or WAT text).
    pub module: Vec<u8>,
    /// Limits for every call; `None` takes the runtime's defaults.
    pub limits: Option<Limits>,
    /// Who may call.
    pub policy: CallPolicy,
    /// The owner's key for the app's state (BYOK); `None` generates one (or keeps the
    /// key of the version already loaded under this name).
    pub encryption_key: Option<AppKey>,
    /// Seal call payloads in the log under the app's key.
    pub private: bool,
    /// Most keys the app's state may hold; `None` takes the node's default.
    pub max_keys: Option<u64>,
}

impl LoadRequest {
    /// A public app with default limits, policy and a generated key.
    pub fn new(name: impl Into<String>, module: Vec<u8>) -> LoadRequest {
        LoadRequest {
            name: name.into(),
            module,
            limits: None,
            policy: CallPolicy::default(),
            encryption_key: None,
            private: false,
            max_keys: None,
        }
    }
}

/// What to call.
#[derive(Clone, Debug)]
pub struct CallInput {
    /// App name.
    pub app: String,
    /// Export.
    pub func: String,
    /// Typed arguments.
    pub args: Vec<Value>,
    /// Who is calling, as received: the node verifies it and applies the app's policy.
    pub requester: Requester,
}

/// A durable call.
#[derive(Clone, Debug)]
pub struct CallResult {
    /// Index of the call record.
    pub index: u64,
    /// Results or the typed error, as recorded.
    pub outcome: Outcome,
    /// Fuel consumed.
    pub fuel: u64,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Receipt for the record.
    pub receipt: Receipt,
    /// The caller id the guest saw (`None` when anonymous).
    pub caller: Option<String>,
    /// Whether that id was proven by a signature (`false` for `--debug` user ids).
    pub authenticated: bool,
}

/// The service core. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    log: ledgervm_log::appender::Log,
    /// The log's storage, for its commit statistics ([`Node::log_stats`]) and for
    /// objects still on their way to their files ([`Node::log_object`]).
    storage: Arc<ledgervm_log::storage::LocalStorage>,
    runtime: Runtime,
    blobs: BlobStore,
    registry: RwLock<Registry>,
    /// Serializes loads and unloads so a name's records and registry entry agree.
    admin: tokio::sync::Mutex<()>,
    /// Set when an append failed: state may be ahead of the log, so no more writes.
    failed: Mutex<Option<String>>,
    log_dir: PathBuf,
    vkey: String,
    /// The log's origin: what caller signatures bind to.
    origin: String,
    authz: Authorizer,
    /// App state (redb) and the sealed app keys.
    kv: KvStore,
    vault: KeyVault,
    default_max_keys: u64,
    /// The log key, also used to sign identity documents ([`Node::sign_note`]).
    signer: ledgervm_log::note::Signer,
}

type PendingAppend = std::pin::Pin<
    Box<
        dyn Future<
                Output = Result<
                    ledgervm_log::appender::Appended,
                    ledgervm_log::appender::AppendError,
                >,
            > + Send,
    >,
>;

/// A record whose place in the log is fixed but which is not durable yet.
struct Sequenced {
    entry: Vec<u8>,
    blob: Option<Vec<u8>>,
    done: PendingAppend,
}

fn log_err(e: impl std::fmt::Display) -> NodeError {
    NodeError::LogUnavailable(e.to_string())
}

fn read_err(e: ledgervm_log::reader::ReadError) -> NodeError {
    NodeError::OutOfRange(e.to_string())
}

fn join_err(e: tokio::task::JoinError) -> NodeError {
    NodeError::Internal(format!("worker task failed: {e}"))
}

/// Loads the log key from `path`, creating it (mode 0600) on first start.
fn load_or_create_key(path: &Path, origin: &str) -> Result<ledgervm_log::note::Signer, NodeError> {
    use ledgervm_log::note::Signer;
    match std::fs::read_to_string(path) {
        Ok(text) => Signer::from_private_key(text.trim())
            .map_err(|e| NodeError::Corrupt(format!("log key {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer =
                Signer::generate(origin).map_err(|e| NodeError::Internal(e.to_string()))?;
            let tmp = path.with_extension("tmp");
            let write = || -> std::io::Result<()> {
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&tmp)?;
                f.write_all(signer.to_private_key().as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)?;
                std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
            };
            write().map_err(|e| {
                NodeError::Internal(format!("writing log key {}: {e}", path.display()))
            })?;
            Ok(signer)
        }
        Err(e) => Err(NodeError::Internal(format!(
            "reading log key {}: {e}",
            path.display()
        ))),
    }
}

impl Node {
    /// Opens (or creates) a node in `opts.data_dir`: recovers the log, then rebuilds the
    /// registry and every app's state by reading the log from the start.
    pub async fn open(opts: NodeOptions) -> Result<Node, NodeError> {
        let dir = &opts.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| NodeError::Internal(format!("{}: {e}", dir.display())))?;
        let signer = load_or_create_key(&dir.join("log.key"), &opts.origin)?;
        let origin = signer.name().to_string();
        let log_dir = dir.join("log");
        let storage_opts = ledgervm_log::storage::LocalOptions {
            fault: opts.storage_faults.clone(),
            ..Default::default()
        };
        let storage = Arc::new(
            ledgervm_log::storage::LocalStorage::open_with(&log_dir, storage_opts)
                .map_err(log_err)?,
        );
        let log_opts = ledgervm_log::appender::LogOptions {
            max_batch: opts.max_batch,
            max_wait: opts.max_wait,
            ..Default::default()
        };
        let vkey = signer.verifier().vkey();
        let log =
            ledgervm_log::appender::Log::open(storage.clone(), signer.clone(), &origin, log_opts)
                .await
                .map_err(|e| NodeError::Corrupt(format!("log: {e}")))?;
        let mut rt_cfg = opts.runtime.clone();
        rt_cfg.cache_dir.get_or_insert_with(|| dir.join("cache"));
        let runtime = Runtime::new(rt_cfg)?;
        let blobs =
            BlobStore::open(dir.join("blobs")).map_err(|e| NodeError::Internal(e.to_string()))?;
        let authz = Authorizer::new(opts.auth.clone())
            .map_err(|e| NodeError::Internal(format!("admin key: {e}")))?;
        let state_dir = dir.join("state");
        let vault = KeyVault::open(&state_dir)
            .map_err(|e| NodeError::Internal(format!("{}: {e}", state_dir.display())))?;
        let kv = KvStore::open(&state_dir.join("state.redb"))
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        let node = Node {
            inner: Arc::new(Inner {
                storage,
                log,
                runtime,
                blobs,
                registry: RwLock::new(Registry::default()),
                admin: tokio::sync::Mutex::new(()),
                failed: Mutex::new(None),
                log_dir,
                vkey: vkey.clone(),
                origin: origin.clone(),
                authz,
                kv,
                vault,
                default_max_keys: opts.max_keys,
                signer,
            }),
        };
        if node.inner.log.size() == 0 {
            let config = Record::Config(Config {
                origin,
                vkey,
                engine: node.engine().clone(),
            });
            node.append(&config).await?;
        } else {
            node.recover(&vkey).await?;
        }
        Ok(node)
    }

    async fn compile(&self, module: Vec<u8>) -> Result<ledgervm_runtime::LoadedApp, NodeError> {
        let rt = self.inner.runtime.clone();
        Ok(tokio::task::spawn_blocking(move || rt.load(&module))
            .await
            .map_err(join_err)??)
    }

    /// Appends a record (spilling it to a blob if needed) and waits until it is durable.
    async fn append(&self, record: &Record) -> Result<u64, NodeError> {
        let seq = self.sequence(record).await?;
        Ok(self.finish(seq.done).await?.index())
    }

    /// Stores the record's blob if it has one and queues the entry: its index is fixed
    /// when this returns, even though it is not durable yet.
    async fn sequence(&self, record: &Record) -> Result<Sequenced, NodeError> {
        if let Some(why) = self.inner.failed.lock().clone() {
            return Err(NodeError::LogUnavailable(why));
        }
        let (entry, blob) = record
            .to_entry()
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        if let Some(blob) = &blob {
            let (blobs, bytes) = (self.inner.blobs.clone(), blob.clone());
            tokio::task::spawn_blocking(move || blobs.put(&bytes))
                .await
                .map_err(join_err)?
                .map_err(|e| NodeError::LogUnavailable(e.to_string()))?;
        }
        let done = Box::pin(self.inner.log.append_with_proof(entry.clone()));
        Ok(Sequenced { entry, blob, done })
    }

    async fn finish(
        &self,
        done: PendingAppend,
    ) -> Result<ledgervm_log::appender::Appended, NodeError> {
        done.await.map_err(|e| {
            // State may now be ahead of what is durable: refuse further writes until a
            // restart rebuilds everything from the log.
            self.inner
                .failed
                .lock()
                .get_or_insert_with(|| e.to_string());
            log_err(e)
        })
    }

    /// The log's origin (checkpoint first line and key name), which signatures bind to.
    pub fn origin(&self) -> String {
        self.inner.origin.clone()
    }

    /// How this node authenticates requests.
    pub fn auth_options(&self) -> &AuthOptions {
        self.inner.authz.options()
    }

    /// The log's verifier key (`name+hex8+base64`), which checks every checkpoint.
    pub fn vkey(&self) -> &str {
        &self.inner.vkey
    }

    /// Signs `text` with the log key as a C2SP signed note and returns the note.
    ///
    /// For documents *about* the log, such as the identity document
    /// ([`crate::identity`]); `text` must not parse as a checkpoint, or it would be a
    /// checkpoint the log never committed to, so this refuses one that does.
    pub fn sign_note(&self, text: &str) -> Result<String, NodeError> {
        if ledgervm_log::checkpoint::Checkpoint::parse(text).is_ok() {
            return Err(NodeError::Internal(
                "refusing to sign a checkpoint outside the log".into(),
            ));
        }
        let mut note = ledgervm_log::note::Note::new(text)
            .map_err(|e| NodeError::Internal(format!("note: {e}")))?;
        self.inner.signer.sign_note(&mut note);
        Ok(note.format())
    }

    /// Whether the node refuses writes after a failed commit (restart to recover).
    pub fn write_failure(&self) -> Option<String> {
        self.inner.failed.lock().clone()
    }

    /// The engine fingerprint calls run under.
    pub fn engine(&self) -> &EngineFingerprint {
        self.inner.runtime.fingerprint()
    }

    /// The runtime (for tools that replay).
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The directory holding the log in `tlog-tiles` layout (servable as static files).
    pub fn log_dir(&self) -> &Path {
        &self.inner.log_dir
    }

    /// Loaded apps, by name.
    pub fn apps(&self) -> Vec<AppInfo> {
        self.inner.registry.read().list()
    }

    /// Brings the data directory's files up to date with the log and makes them durable
    /// in place: waits for the log's background file writer, fsyncs what it wrote and
    /// empties the journal. Durability never depends on it (every answered call is in
    /// the journal); it is for a clean stop and for reading the directory offline, e.g.
    /// `ledgervm verify --data`, a backup, or a static file server. Commits wait while it
    /// runs.
    pub async fn flush(&self) -> Result<(), NodeError> {
        let storage = self.inner.storage.clone();
        tokio::task::spawn_blocking(move || storage.flush())
            .await
            .map_err(join_err)?
            .map_err(log_err)
    }

    /// Stops the node: flushes the log's files (as [`Node::flush`]), stops the log's
    /// sequencer, and, when this is the last handle on the node, releases the data
    /// directory before returning, so the same process can open it again at once.
    ///
    /// Dropping a `Node` also releases the directory, but later: the sequencer is a task
    /// of its own and lets go of the storage only when it next runs. A re-open that
    /// races it fails with "locked by another process"; `close` is the orderly stop.
    /// Appends still queued fail with a typed "closed" error.
    pub async fn close(self) -> Result<(), NodeError> {
        let flushed = self.flush().await;
        self.inner.log.clone().close().await;
        drop(self);
        flushed
    }

    /// One loaded app.
    pub fn app(&self, name: &str) -> Option<AppInfo> {
        self.inner.registry.read().get(name).map(|s| s.info.clone())
    }

    /// Runs a call and returns once its record is durable, with a receipt.
    ///
    /// Every outcome the guest is responsible for — results, traps, running out of fuel,
    /// bad arguments, an unknown function — is recorded and returned as
    /// [`CallResult::outcome`]; only host failures are errors here.
    ///
    /// The call runs in a task of its own, so dropping this future (a client hanging
    /// up, a request timeout) never cancels it: a call that started runs to its durable
    /// record, and writes it staged are never stranded. One task per call: the HTTP
    /// layer and the commit wait used to spawn one each.
    pub async fn call(&self, input: CallInput) -> Result<CallResult, NodeError> {
        let node = self.clone();
        tokio::spawn(async move { node.run_call(input).await })
            .await
            .map_err(join_err)?
    }

    async fn run_call(&self, input: CallInput) -> Result<CallResult, NodeError> {
        let slot = self
            .inner
            .registry
            .read()
            .get(&input.app)
            .ok_or_else(|| NodeError::AppNotFound(input.app.clone()))?;
        let (caller, auth) = self.inner.authz.authorize_call(
            &self.inner.origin,
            &slot.info,
            &input.func,
            &input.args,
            &input.requester,
        )?;
        let guard = slot.lock.lock().await;
        let base: Arc<dyn StateBase> = slot.state.clone();
        let overlay = Arc::new(Mutex::new(Overlay::new(base, slot.info.max_keys)));
        let shared: SharedState = overlay.clone();
        let req = CallRequest {
            func: input.func.clone(),
            args: input.args.clone(),
            mode: CallMode::Live,
            caller: caller.clone(),
            limits: Some(slot.info.limits.clone()),
        };
        let out = slot.app.call(req, shared).await;
        if let Err(CallError::Internal { message }) = &out.result {
            // A host failure proves nothing about the guest; it is not recorded.
            return Err(NodeError::Internal(message.clone()));
        }
        let (mut digest, mut count) = slot.state.digest();
        let write_set = if out.result.is_ok() {
            let mut overlay = overlay.lock();
            count = overlay.key_count();
            overlay.take_write_set()
        } else {
            Vec::new()
        };
        state::update_shared_digest(&mut digest, &*slot.state, &write_set)
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        let call = CallRecord {
            app: input.app,
            code_hash: slot.info.code_hash.clone(),
            load_index: slot.info.index,
            func: input.func,
            args: input.args,
            caller,
            transcript: out.transcript,
            outcome: out.result.into(),
            fuel: out.fuel_consumed,
            stdout: out.stdout,
            stderr: out.stderr,
            write_set,
            auth,
            state_digest: digest.digest(),
        };
        // A public call's record owns the call; a private one's holds it sealed. Either
        // way the fields the answer needs are taken back afterwards, not cloned first.
        let (record, kept) = if slot.info.private {
            let sealed = crate::private::PrivateCall::seal(&call, slot.state.key());
            (Record::PrivateCall(sealed), Some(call))
        } else {
            (Record::Call(Box::new(call)), None)
        };
        let sequenced = self.sequence(&record).await?;
        let call = match (kept, record) {
            (Some(call), _) => call,
            (None, Record::Call(call)) => *call,
            (None, _) => unreachable!("a public call's record is Record::Call"),
        };
        // Stage the writes once the record's place in the log is fixed, with no await in
        // between, so later calls of this app see them; they reach the store only once
        // the commit is durable.
        let stage = slot.state.stage(call.write_set, digest, count);
        drop(guard);
        let Sequenced { entry, blob, done } = sequenced;
        let kv = &slot.state;
        let appended = self.finish(done).await?;
        // Answer only once the store has the writes, so that a verified read right after
        // the call sees them. The call that claims the persister runs it (so no thread
        // outlives the last call still holding the store), retiring write-free stages
        // inline; every call then waits for its own stage, which a persister claimed
        // later picks up if an earlier stage was not durable yet when this one ran.
        if kv.set_index_and_claim(stage, appended.index()) && !kv.persist_write_free() {
            let persister = kv.clone();
            let persisted = tokio::task::spawn_blocking(move || persister.persist_all_ready())
                .await
                .map_err(join_err)?;
            if let Err(e) = persisted {
                // The store is now behind the log; a restart catches it up.
                self.inner
                    .failed
                    .lock()
                    .get_or_insert_with(|| e.to_string());
                tracing::error!(error = %e, "persisting app state failed");
            }
        }
        kv.persisted(stage).await;
        let index = appended.index();
        let proof = appended
            .inclusion_proof()
            .map_err(|e| NodeError::Internal(format!("inclusion proof of entry {index}: {e}")))?;
        let receipt = receipt(index, appended.checkpoint(), proof, entry, blob)?;
        Ok(CallResult {
            index,
            authenticated: matches!(call.auth, Some(crate::signing::CallerAuth::Ed25519(_))),
            caller: call.caller.id,
            outcome: call.outcome,
            fuel: call.fuel,
            stdout: call.stdout,
            receipt,
        })
    }
}
