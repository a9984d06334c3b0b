//! The node: one log, one runtime, the registry, and the call pipeline.
//!
//! authorize → take the app's lock → fresh instance → run under limits with live oracles
//! → build the record → hand it to the sequencer (fixes its index) → release the lock →
//! group commit → answer with result + receipt. A caller never sees a result that is not
//! durable: [`Node::call`] returns only after the log's commit covers the record.

use crate::blobs::BlobStore;
use crate::error::NodeError;
use crate::ids::{cid_v1_raw, is_valid_app_name};
use crate::receipt::{RECEIPT_FORMAT, Receipt};
use crate::record::{CallPolicy, CallRecord, Config, ExportInfo, Load, Outcome, Record, Unload};
use crate::registry::{AppInfo, AppSlot, Registry};
use crate::state::{self, AppState, Overlay};
use ledgervm_log::tlog_proof::TlogProof;
use ledgervm_runtime::state::{Caller, MemoryState, SharedState};
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
    /// Longest a batch waits to fill.
    pub max_wait: Duration,
}

impl NodeOptions {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> NodeOptions {
        NodeOptions {
            data_dir: data_dir.into(),
            origin: "localhost/ledgervm".into(),
            runtime: RuntimeConfig::default(),
            max_batch: 256,
            max_wait: Duration::from_millis(2),
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
    /// Who is calling (already authenticated by the transport).
    pub caller: Caller,
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
}

/// The service core. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    log: ledgervm_log::appender::Log,
    runtime: Runtime,
    blobs: BlobStore,
    registry: RwLock<Registry>,
    /// Serializes loads and unloads so a name's records and registry entry agree.
    admin: tokio::sync::Mutex<()>,
    /// Set when an append failed: state may be ahead of the log, so no more writes.
    failed: Mutex<Option<String>>,
    log_dir: PathBuf,
    vkey: String,
    /// The log key, also used to sign identity documents ([`Node::sign_note`]).
    signer: ledgervm_log::note::Signer,
}

type PendingAppend = std::pin::Pin<
    Box<dyn Future<Output = Result<u64, ledgervm_log::appender::AppendError>> + Send>,
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
        let storage = ledgervm_log::storage::LocalStorage::open(&log_dir).map_err(log_err)?;
        let log_opts = ledgervm_log::appender::LogOptions {
            max_batch: opts.max_batch,
            max_wait: opts.max_wait,
            ..Default::default()
        };
        let vkey = signer.verifier().vkey();
        let log = ledgervm_log::appender::Log::open(storage, signer.clone(), &origin, log_opts)
            .await
            .map_err(|e| NodeError::Corrupt(format!("log: {e}")))?;
        let mut rt_cfg = opts.runtime.clone();
        rt_cfg.cache_dir.get_or_insert_with(|| dir.join("cache"));
        let runtime = Runtime::new(rt_cfg)?;
        let blobs =
            BlobStore::open(dir.join("blobs")).map_err(|e| NodeError::Internal(e.to_string()))?;
        let node = Node {
            inner: Arc::new(Inner {
                log,
                runtime,
                blobs,
                registry: RwLock::new(Registry::default()),
                admin: tokio::sync::Mutex::new(()),
                failed: Mutex::new(None),
                log_dir,
                vkey: vkey.clone(),
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

    /// Replays the log's records into the registry and app states.
    async fn recover(&self, vkey: &str) -> Result<(), NodeError> {
        let size = self.inner.log.size();
        let mut states: std::collections::BTreeMap<String, AppState> = Default::default();
        for index in 0..size {
            let record = self.record(index)?;
            match record {
                Record::Config(c) if index == 0 => {
                    if c.vkey != vkey {
                        return Err(NodeError::Corrupt(format!(
                            "entry 0 names log key {} but the key on disk is {vkey}",
                            c.vkey
                        )));
                    }
                }
                Record::Load(load) => {
                    let module = self.blob(&load.code_hash)?;
                    let state = states.entry(load.name.clone()).or_default().clone();
                    let app = self.compile(module).await?;
                    self.inner.registry.write().insert(AppSlot {
                        info: AppInfo::from_load(&load, index),
                        app,
                        state,
                        lock: Default::default(),
                    });
                }
                Record::Unload(u) => {
                    self.inner.registry.write().remove(&u.name);
                    states.remove(&u.name);
                }
                Record::Call(call) => {
                    if matches!(call.outcome, Outcome::Ok(_)) {
                        let state = states.entry(call.app.clone()).or_default();
                        state::apply(&mut state.lock(), &call.write_set);
                    }
                }
                other => {
                    return Err(NodeError::Corrupt(format!(
                        "unexpected {} record at index {index}",
                        other.kind()
                    )));
                }
            }
        }
        tracing::info!(
            size,
            apps = self.inner.registry.read().list().len(),
            "recovered from log"
        );
        Ok(())
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
        self.finish(seq.done).await
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
        let done = Box::pin(self.inner.log.append(entry.clone()));
        Ok(Sequenced { entry, blob, done })
    }

    async fn finish(&self, done: PendingAppend) -> Result<u64, NodeError> {
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

    /// The log's origin (checkpoint first line and key name).
    pub fn origin(&self) -> String {
        ledgervm_log::checkpoint::Checkpoint::parse(&self.checkpoint_text())
            .map(|c| c.origin)
            .unwrap_or_default()
    }

    fn checkpoint_text(&self) -> String {
        let note = self.inner.log.checkpoint();
        let text = String::from_utf8_lossy(&note);
        text.split("\n\n").next().unwrap_or("").to_string() + "\n"
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

    /// Loads an app (or a new version of it) and returns what the registry says of it
    /// once its `app.load` record is durable. The app's state carries over to a new
    /// version loaded under the same name.
    pub async fn load(&self, req: LoadRequest) -> Result<AppInfo, NodeError> {
        if !is_valid_app_name(&req.name) {
            return Err(NodeError::InvalidName(req.name));
        }
        let limits = req
            .limits
            .unwrap_or_else(|| self.inner.runtime.config().default_limits.clone());
        limits
            .check_against(self.inner.runtime.config())
            .map_err(NodeError::InvalidLimits)?;
        let module = ledgervm_runtime::app::to_binary(&req.module)?;
        let app = self.compile(module.clone()).await?;
        let _admin = self.inner.admin.lock().await;
        let (blobs, bytes) = (self.inner.blobs.clone(), module.clone());
        tokio::task::spawn_blocking(move || blobs.put(&bytes))
            .await
            .map_err(join_err)?
            .map_err(|e| NodeError::LogUnavailable(e.to_string()))?;
        let code_hash = app.code_hash().to_string();
        let load = Load {
            name: req.name.clone(),
            cid: cid_v1_raw(&code_hash).expect("code hash is a sha256"),
            code_hash,
            size: module.len() as u64,
            app_kind: app.kind(),
            exports: app
                .exports()
                .iter()
                .map(|(name, ty)| ExportInfo {
                    name: name.clone(),
                    ty: ty.clone(),
                })
                .collect(),
            limits,
            policy: req.policy,
            engine: self.engine().clone(),
        };
        let index = self.append(&Record::Load(load.clone())).await?;
        let info = AppInfo::from_load(&load, index);
        let state = self
            .inner
            .registry
            .read()
            .get(&req.name)
            .map(|s| s.state.clone())
            .unwrap_or_default();
        self.inner.registry.write().insert(AppSlot {
            info: info.clone(),
            app,
            state,
            lock: Default::default(),
        });
        Ok(info)
    }

    /// Unloads an app: appends `app.unload`, drops it from the registry and discards its
    /// state. The history stays in the log.
    pub async fn unload(&self, name: &str) -> Result<(AppInfo, u64), NodeError> {
        let _admin = self.inner.admin.lock().await;
        let slot = self
            .inner
            .registry
            .read()
            .get(name)
            .ok_or_else(|| NodeError::AppNotFound(name.into()))?;
        // Wait for calls in flight on this app so none is sequenced after the unload.
        let _lock = slot.lock.lock().await;
        let index = self
            .append(&Record::Unload(Unload {
                name: name.into(),
                code_hash: slot.info.code_hash.clone(),
                load_index: slot.info.index,
            }))
            .await?;
        self.inner.registry.write().remove(name);
        Ok((slot.info.clone(), index))
    }

    /// Loaded apps, by name.
    pub fn apps(&self) -> Vec<AppInfo> {
        self.inner.registry.read().list()
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
    pub async fn call(&self, input: CallInput) -> Result<CallResult, NodeError> {
        let slot = self
            .inner
            .registry
            .read()
            .get(&input.app)
            .ok_or_else(|| NodeError::AppNotFound(input.app.clone()))?;
        if slot.info.policy == CallPolicy::Signed && input.caller.id.is_none() {
            return Err(NodeError::Forbidden(format!(
                "app {:?} only accepts signed calls",
                input.app
            )));
        }
        let guard = slot.lock.lock().await;
        let overlay = Arc::new(Mutex::new(Overlay::new(slot.state.clone())));
        let shared: SharedState = overlay.clone();
        let req = CallRequest {
            func: input.func.clone(),
            args: input.args.clone(),
            mode: CallMode::Live,
            caller: input.caller.clone(),
            limits: Some(slot.info.limits.clone()),
        };
        let out = slot.app.call(req, shared).await;
        if let Err(CallError::Internal { message }) = &out.result {
            // A host failure proves nothing about the guest; it is not recorded.
            return Err(NodeError::Internal(message.clone()));
        }
        let write_set = if out.result.is_ok() {
            std::mem::replace(
                &mut *overlay.lock(),
                Overlay::new(Arc::new(Mutex::new(MemoryState::new()))),
            )
            .into_write_set()
        } else {
            Vec::new()
        };
        let record = Record::Call(Box::new(CallRecord {
            app: input.app,
            code_hash: slot.info.code_hash.clone(),
            load_index: slot.info.index,
            func: input.func,
            args: input.args,
            caller: input.caller,
            transcript: out.transcript,
            outcome: out.result.into(),
            fuel: out.fuel_consumed,
            stdout: out.stdout,
            stderr: out.stderr,
            write_set,
        }));
        let sequenced = self.sequence(&record).await;
        // Apply the writes only once the record's place in the log is fixed, with no
        // await in between: a caller dropping this future can then never leave state
        // ahead of the log (the queued append commits regardless).
        if sequenced.is_ok() {
            if let Record::Call(c) = &record {
                state::apply(&mut slot.state.lock(), &c.write_set);
            }
        }
        drop(guard);
        let Sequenced { entry, blob, done } = sequenced?;
        let index = self.finish(done).await?;
        let receipt = self.receipt_for(index, entry, blob)?;
        let Record::Call(call) = record else {
            unreachable!()
        };
        Ok(CallResult {
            index,
            outcome: call.outcome,
            fuel: call.fuel,
            stdout: call.stdout,
            receipt,
        })
    }

    /// The latest signed checkpoint (signed-note bytes).
    pub fn checkpoint(&self) -> Arc<Vec<u8>> {
        self.inner.log.checkpoint()
    }

    /// The committed log size.
    pub fn size(&self) -> u64 {
        self.inner.log.size()
    }

    /// The raw entry at `index`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, NodeError> {
        self.inner.log.entry(index).map_err(read_err)
    }

    /// The record at `index`, with blob pointers resolved (and checked).
    pub fn record(&self, index: u64) -> Result<Record, NodeError> {
        let entry = self.entry(index)?;
        let record = Record::decode(&entry)
            .map_err(|e| NodeError::Corrupt(format!("entry {index}: {e}")))?;
        let blob = match &record {
            Record::Blob(p) => Some(self.blob(&p.sha256)?),
            _ => None,
        };
        let blob = blob
            .map(String::from_utf8)
            .transpose()
            .map_err(|_| NodeError::Corrupt(format!("entry {index}: blob is not UTF-8")))?;
        crate::receipt::resolve(record, blob.as_deref())
            .map_err(|e| NodeError::Corrupt(format!("entry {index}: {e}")))
    }

    /// Inclusion proof of `index` in the tree of `size` entries.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<ledgervm_log::merkle::Hash>, NodeError> {
        self.inner
            .log
            .inclusion_proof(index, size)
            .map_err(read_err)
    }

    /// Consistency proof between the trees of `old` and `new` entries.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<ledgervm_log::merkle::Hash>, NodeError> {
        self.inner.log.consistency_proof(old, new).map_err(read_err)
    }

    /// A receipt for the entry at `index` against the latest checkpoint.
    pub fn receipt(&self, index: u64) -> Result<Receipt, NodeError> {
        let entry = self.entry(index)?;
        let blob = match Record::decode(&entry) {
            Ok(Record::Blob(p)) => Some(self.blob(&p.sha256)?),
            _ => None,
        };
        self.receipt_for(index, entry, blob)
    }

    fn receipt_for(
        &self,
        index: u64,
        entry: Vec<u8>,
        blob: Option<Vec<u8>>,
    ) -> Result<Receipt, NodeError> {
        let checkpoint = self.inner.log.checkpoint();
        let text = String::from_utf8_lossy(&checkpoint);
        let body = text.split("\n\n").next().unwrap_or("").to_string() + "\n";
        let size = ledgervm_log::checkpoint::Checkpoint::parse(&body)
            .map_err(|e| NodeError::Corrupt(format!("own checkpoint: {e}")))?
            .size;
        let proof = self.inclusion_proof(index, size)?;
        let text = TlogProof {
            extra: None,
            index,
            proof,
            checkpoint: checkpoint.to_vec(),
        }
        .to_text();
        let utf8 = |b: Vec<u8>| {
            String::from_utf8(b)
                .map_err(|_| NodeError::Corrupt(format!("entry {index} is not UTF-8")))
        };
        Ok(Receipt {
            format: RECEIPT_FORMAT.into(),
            entry: utf8(entry)?,
            blob: blob.map(utf8).transpose()?,
            proof: utf8(text)?,
        })
    }

    /// A blob by SHA-256 name, checked against its name.
    pub fn blob(&self, name: &str) -> Result<Vec<u8>, NodeError> {
        self.inner.blobs.get(name).map_err(|e| match e {
            crate::blobs::BlobError::NotFound(n) | crate::blobs::BlobError::InvalidName(n) => {
                NodeError::BlobNotFound(n)
            }
            other => NodeError::Corrupt(other.to_string()),
        })
    }
}
