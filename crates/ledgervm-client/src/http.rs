//! The typed HTTP client. Every answer that carries a receipt or a checkpoint is checked
//! before it is returned: the checkpoint's signature against the pinned key, the record's
//! inclusion, that the record says what the answer says, and that the checkpoint extends
//! the one this client trusted before ([`crate::trust`]).

use crate::error::ClientError;
use crate::trust::{Advance, Freshness, TrustStore};
use crate::verify::LoggedCall;
use crate::verify::{self, CallClaim, LogKey, SignedCheckpoint};
use ledgervm_log::merkle::Hash;
use ledgervm_log::tile::Tile;
use ledgervm_node::record::{CallPolicy, Outcome, Record};
use ledgervm_node::secret::{AppKey, ENCRYPTION_KEY_HEADER};
use ledgervm_node::{AppInfo, Receipt, VerifiedReceipt};
use ledgervm_runtime::EngineFingerprint;
use ledgervm_runtime::value::Value;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How the client learns which key signs the server's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPin {
    /// This key, given out of band (e.g. printed by `ledgervm serve`). Recommended.
    Vkey(String),
    /// Trust on first use: take the key `/v1/log` presents the first time this server URL
    /// is seen, pin it in the trust store, and refuse a different key later
    /// ([`ClientError::KeyChanged`]). A server that is already lying at first contact is
    /// not detected.
    TrustOnFirstUse,
}

/// Options of `PUT /v1/apps/{name}`; `None` keeps the server's default.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Linear memory cap, bytes.
    pub max_memory_bytes: Option<u64>,
    /// Table size cap.
    pub max_table_elements: Option<u64>,
    /// Output cap per stream, bytes.
    pub max_output_bytes: Option<u64>,
    /// Wall-clock deadline per call, milliseconds.
    pub deadline_ms: Option<u64>,
    /// Who may call.
    pub policy: Option<CallPolicy>,
    /// Seal call payloads in the log under the app key (a private app).
    pub private: bool,
    /// Most keys the app's state may hold.
    pub max_keys: Option<u64>,
    /// Bring your own app key instead of one the server generates: sent in the
    /// `ledgervm-encryption-key` header (never in the URL) and kept by this client to
    /// open the app's sealed records.
    pub encryption_key: Option<AppKey>,
}

/// `DELETE /v1/apps/{name}` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unloaded {
    /// App name.
    pub name: String,
    /// Code hash of the version unloaded.
    pub code_hash: String,
    /// Index of the `app.unload` record.
    pub index: u64,
}

/// A durable call, verified: returned for both a result (HTTP 200) and a recorded guest
/// failure (HTTP 422), since a failure is a result the log vouches for too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallResponse {
    /// Results or the recorded error.
    pub result: Outcome,
    /// Index of the call record.
    pub index: u64,
    /// Fuel consumed.
    pub fuel: u64,
    /// Captured stdout (lossy UTF-8), absent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// The receipt (verifies offline with [`crate::verify_receipt_file`]).
    pub receipt: Receipt,
}

/// `GET /v1/records/{index}` answer, verified: the record comes from the receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordResponse {
    /// Entry index.
    pub index: u64,
    /// The record, as the verified receipt holds it.
    pub record: Record,
    /// The receipt.
    pub receipt: Receipt,
}

/// `GET /v1/log` answer (its checkpoint verified and trusted-state advanced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInfo {
    /// Checkpoint origin.
    pub origin: String,
    /// The log's verifier key.
    pub vkey: String,
    /// Size the checkpoint signs.
    pub size: u64,
    /// Signed checkpoint note.
    pub checkpoint: String,
    /// Engine the server runs calls with.
    pub engine: EngineFingerprint,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct ProofBody {
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct RecordBody {
    index: u64,
    receipt: Receipt,
}

#[derive(Deserialize)]
struct AppsBody {
    apps: Vec<AppInfo>,
}

/// A client for one ledgervm server. Cheap to clone; clones share connections and state.
///
/// ```no_run
/// # async fn run() -> Result<(), ledgervm_client::ClientError> {
/// use ledgervm_client::{Client, KeyPin, TrustStore};
/// use ledgervm_runtime::value::Value;
///
/// let client = Client::new(
///     "http://127.0.0.1:8080",
///     TrustStore::default_location()?,
///     KeyPin::Vkey("localhost/ledgervm+0123abcd+AQ...".into()),
/// )?;
/// let module = std::fs::read("sum.wasm").unwrap();
/// client.load("sum.wasm", &module, &Default::default()).await?;
/// let r = client.call("sum.wasm", "Sum", &[Value::U32(5), Value::U32(7)]).await?;
/// println!("{:?} (entry {}, verified)", r.result, r.index);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    base: Url,
    trust: TrustStore,
    pin: KeyPin,
    pub(crate) key: tokio::sync::OnceCell<LogKey>,
    /// Signs calls, loads and unloads when set ([`Client::set_caller_key`]).
    caller: parking_lot::RwLock<Option<crate::CallerKey>>,
    /// SHA-256 of each server certificate whose identity binding was checked.
    pub(crate) bound: parking_lot::Mutex<std::collections::HashSet<[u8; 32]>>,
    /// Keys of private apps, by app name ([`Client::set_app_key`]).
    app_keys: parking_lot::RwLock<std::collections::HashMap<String, AppKey>>,
}

/// TLS through rustls with the ring provider, the webpki root set, and ledgervm's
/// attested self-signed certificates ([`crate::attest`]); `tls_info` so every answer's
/// certificate can be checked.
fn http_client() -> Result<reqwest::Client, ClientError> {
    let tls = crate::attest::AttestedVerifier::client_config()?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .tls_info(true)
        // Below the server's idle cut-off (its header-read timeout, 30 s by default), so
        // a pooled connection is dropped here before the server closes it under a request.
        .pool_idle_timeout(std::time::Duration::from_secs(20))
        .tcp_nodelay(true)
        .build()
        .map_err(ClientError::from)
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`), keeping its
    /// trusted checkpoints in `trust`, with the key chosen by `pin`.
    pub fn new(base_url: &str, trust: TrustStore, pin: KeyPin) -> Result<Client, ClientError> {
        let mut base = Url::parse(base_url)
            .map_err(|e| ClientError::InvalidArgument(format!("base URL {base_url:?}: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::InvalidArgument(format!(
                "base URL {base_url:?} is not http(s)"
            )));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let key = tokio::sync::OnceCell::new();
        if let KeyPin::Vkey(v) = &pin {
            key.set(LogKey::parse(v)?).expect("fresh cell");
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http: http_client()?,
                base,
                trust,
                pin,
                key,
                caller: Default::default(),
                bound: Default::default(),
                app_keys: Default::default(),
            }),
        })
    }

    /// Signs every later call, load and unload with `key` (see `docs/AUTH.md`).
    pub fn set_caller_key(&self, key: crate::CallerKey) {
        *self.inner.caller.write() = Some(key);
    }

    /// The key requests are signed with, if any.
    pub fn caller_key(&self) -> Option<crate::CallerKey> {
        self.inner.caller.read().clone()
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// How the log key is chosen.
    pub fn pin(&self) -> &KeyPin {
        &self.inner.pin
    }

    /// The trust store.
    pub fn trust(&self) -> &TrustStore {
        &self.inner.trust
    }

    /// The pinned log key, fetching and pinning it first under [`KeyPin::TrustOnFirstUse`].
    pub async fn key(&self) -> Result<&LogKey, ClientError> {
        self.inner
            .key
            .get_or_try_init(|| async {
                let info: LogInfo = self.get_json(&["v1", "log"], &[]).await?;
                let base = self.inner.base.as_str();
                self.inner.trust.pin_key(base, &info.vkey)?;
                LogKey::parse(&info.vkey)
            })
            .await
    }

    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .expect("checked in new")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    pub(crate) async fn error_of(resp: reqwest::Response) -> ClientError {
        let status = resp.status().as_u16();
        match resp.bytes().await {
            Ok(body) => match serde_json::from_slice::<ApiErrorBody>(&body) {
                Ok(e) => ClientError::Api {
                    status,
                    code: e.code,
                    message: e.message,
                },
                Err(_) => ClientError::Api {
                    status,
                    code: format!("http_{status}"),
                    message: String::from_utf8_lossy(&body).chars().take(500).collect(),
                },
            },
            Err(e) => e.into(),
        }
    }

    pub(crate) async fn json_of<T: DeserializeOwned>(
        resp: reqwest::Response,
    ) -> Result<T, ClientError> {
        let body = resp.bytes().await?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("bad JSON answer: {e}")))
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let resp = self
            .send(self.inner.http.get(self.url(segments, query)))
            .await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        Self::json_of(resp).await
    }

    /// Checks a presented checkpoint against the key and the trusted state.
    async fn accept(
        &self,
        note: &[u8],
        freshness: Freshness,
    ) -> Result<(SignedCheckpoint, Advance), ClientError> {
        let key = self.key().await?;
        let cp = verify::open_checkpoint(note, key)?;
        let advance = self
            .inner
            .trust
            .advance(key, &cp, freshness, |old, new| {
                self.consistency_proof(old, new)
            })
            .await?;
        Ok((cp, advance))
    }

    /// Verifies a receipt for entry `index` and checks its checkpoint against the
    /// trusted state.
    pub(crate) async fn accept_receipt(
        &self,
        receipt: &Receipt,
        index: u64,
    ) -> Result<VerifiedReceipt, ClientError> {
        let key = self.key().await?;
        let verified = verify::verify_receipt_at(receipt, key, index)?;
        match self
            .accept(&verified.checkpoint_note, Freshness::Receipt)
            .await
        {
            Ok(_) => Ok(verified),
            Err(e @ (ClientError::Rollback { .. } | ClientError::Fork { .. })) => Err(e),
            // A receipt behind what we trust is fine only if the server proves it a
            // prefix; a rolled-back server cannot, and its failure alone proves
            // nothing. Ask it what it calls current: that turns the failure into a
            // provable rollback (or fork), with both checkpoints kept as evidence.
            Err(e) => {
                self.checkpoint().await?;
                Err(e)
            }
        }
    }

    /// `GET /v1/log`: the log's current state. Its checkpoint must extend the trusted one
    /// (a smaller one is a [`ClientError::Rollback`]).
    pub async fn log_info(&self) -> Result<LogInfo, ClientError> {
        let info: LogInfo = self.get_json(&["v1", "log"], &[]).await?;
        let (cp, _) = self
            .accept(info.checkpoint.as_bytes(), Freshness::Latest)
            .await?;
        if cp.checkpoint.size != info.size || cp.checkpoint.origin != info.origin {
            return Err(ClientError::Protocol(
                "log size/origin disagree with the signed checkpoint".into(),
            ));
        }
        Ok(info)
    }

    /// Fetches `/log/checkpoint`, verifies it and advances the trusted state.
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint, ClientError> {
        let note = self
            .raw(&["log", "checkpoint"])
            .await?
            .ok_or_else(|| ClientError::Protocol("server has no /log/checkpoint".into()))?;
        Ok(self.accept(&note, Freshness::Latest).await?.0)
    }

    /// `PUT /v1/apps/{name}`: loads a module (binary Wasm, or WAT text). The `app.load`
    /// record is fetched and checked: it names this module's SHA-256.
    pub async fn load(
        &self,
        name: &str,
        module: &[u8],
        opts: &LoadOptions,
    ) -> Result<AppInfo, ClientError> {
        let mut q: Vec<(&str, String)> = Vec::new();
        let limits = [
            ("fuel", opts.fuel),
            ("max_memory_bytes", opts.max_memory_bytes),
            ("max_table_elements", opts.max_table_elements),
            ("max_output_bytes", opts.max_output_bytes),
            ("deadline_ms", opts.deadline_ms),
            ("max_keys", opts.max_keys),
        ];
        for (k, v) in limits {
            if let Some(v) = v {
                q.push((k, v.to_string()));
            }
        }
        match &opts.policy {
            None => {}
            Some(CallPolicy::AllowList(keys)) => {
                q.push(("policy", "allow_list".into()));
                q.push(("allow", keys.join(",")));
            }
            Some(p) => {
                let p = serde_json::to_value(p).expect("enum");
                q.push(("policy", p.as_str().unwrap_or_default().to_string()));
            }
        }
        if opts.private {
            q.push(("private", "true".into()));
        }
        let binary = module.starts_with(b"\0asm");
        let url = self.url(&["v1", "apps", name], &q);
        let signed = self.sign_request("PUT", &url, module).await?;
        let req = signed
            .apply(self.inner.http.request(Method::PUT, url))
            .header(
                "content-type",
                if binary {
                    "application/wasm"
                } else {
                    "text/plain"
                },
            )
            .body(module.to_vec());
        let req = match &opts.encryption_key {
            Some(k) => req.header(ENCRYPTION_KEY_HEADER, k.expose_hex().as_str()),
            None => req,
        };
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        let info: AppInfo = Self::json_of(resp).await?;
        let code_hash = ledgervm_runtime::app::to_binary(module)
            .map(|b| ledgervm_runtime::app::code_hash(&b))
            .map_err(|e| {
                ClientError::Verification(format!(
                    "server accepted a module this client cannot read: {e}"
                ))
            })?;
        let (_, verified) = self.receipt_checked(info.index).await?;
        match &verified.record {
            Record::Load(l)
                if l.name == name && l.code_hash == code_hash && info.code_hash == code_hash =>
            {
                if let Some(k) = &opts.encryption_key {
                    self.set_app_key(name, k.clone());
                }
                Ok(info)
            }
            other => Err(ClientError::Verification(format!(
                "entry {} is not the app.load of {name} with code hash {code_hash} (it is a {} record)",
                info.index,
                other.kind()
            ))),
        }
    }

    /// `GET /v1/apps`.
    pub async fn apps(&self) -> Result<Vec<AppInfo>, ClientError> {
        Ok(self.get_json::<AppsBody>(&["v1", "apps"], &[]).await?.apps)
    }

    /// `GET /v1/apps/{name}`.
    pub async fn app(&self, name: &str) -> Result<AppInfo, ClientError> {
        self.get_json(&["v1", "apps", name], &[]).await
    }

    /// `DELETE /v1/apps/{name}`; the `app.unload` record is fetched and checked.
    pub async fn unload(&self, name: &str) -> Result<Unloaded, ClientError> {
        let url = self.url(&["v1", "apps", name], &[]);
        let signed = self.sign_request("DELETE", &url, b"").await?;
        let resp = self.send(signed.apply(self.inner.http.delete(url))).await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        let u: Unloaded = Self::json_of(resp).await?;
        let (_, verified) = self.receipt_checked(u.index).await?;
        match &verified.record {
            Record::Unload(x) if x.name == name && x.code_hash == u.code_hash => Ok(u),
            other => Err(ClientError::Verification(format!(
                "entry {} is not the app.unload of {name} (it is a {} record)",
                u.index,
                other.kind()
            ))),
        }
    }

    /// `POST /v1/apps/{app}/calls/{func}`. Returns the verified call for a result and
    /// for a recorded guest failure alike; other failures are errors.
    pub async fn call(
        &self,
        app: &str,
        func: &str,
        args: &[Value],
    ) -> Result<CallResponse, ClientError> {
        let body = serde_json::json!({ "args": args });
        let signed = self.sign_call(app, func, args).await?;
        let req = signed
            .apply(
                self.inner
                    .http
                    .post(self.url(&["v1", "apps", app, "calls", func], &[])),
            )
            .json(&body);
        let resp = self.send(req).await?;
        let status = resp.status();
        if !status.is_success() && status != StatusCode::UNPROCESSABLE_ENTITY {
            return Err(Self::error_of(resp).await);
        }
        let bytes = resp.bytes().await?;
        let answer: CallResponse = match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            // A 422 without a receipt is an ordinary error answer.
            Err(_) if status == StatusCode::UNPROCESSABLE_ENTITY => {
                let e: ApiErrorBody = serde_json::from_slice(&bytes)
                    .map_err(|e| ClientError::Protocol(format!("bad 422 answer: {e}")))?;
                return Err(ClientError::Api {
                    status: 422,
                    code: e.code,
                    message: e.message,
                });
            }
            Err(e) => return Err(ClientError::Protocol(format!("bad call answer: {e}"))),
        };
        if (status == StatusCode::OK) != matches!(answer.result, Outcome::Ok(_)) {
            return Err(ClientError::Protocol(format!(
                "status {status} does not match the outcome"
            )));
        }
        let logged = self.verify_call(app, func, args, &answer).await?;
        crate::signing::check_logged_caller(&signed, &logged)?;
        Ok(answer)
    }

    /// Checks a call answer against its receipt and the trusted state; returns the
    /// logged call. A private app's sealed record is opened with the key given by
    /// [`Client::set_app_key`] (or the one this client loaded the app with); without a
    /// key only its public fields are checked ([`LoggedCall::Sealed`]).
    pub async fn verify_call(
        &self,
        app: &str,
        func: &str,
        args: &[Value],
        answer: &CallResponse,
    ) -> Result<LoggedCall, ClientError> {
        let verified = self.accept_receipt(&answer.receipt, answer.index).await?;
        let claim = CallClaim {
            app,
            func,
            args,
            outcome: &answer.result,
            fuel: answer.fuel,
        };
        let key = self.inner.app_keys.read().get(app).cloned();
        let logged = verify::check_call_record(&verified.record, &claim, key.as_ref())?;
        if let (Some(out), Some(call)) = (&answer.stdout, logged.record())
            && *out != String::from_utf8_lossy(&call.stdout)
        {
            return Err(ClientError::Verification(
                "the logged stdout differs from the answer".into(),
            ));
        }
        Ok(logged)
    }

    /// Gives the client a private app's key, so its sealed call records are opened and
    /// checked in full (arguments, result, output) instead of only their public part.
    /// [`Client::load`] with an `encryption_key` remembers it by itself.
    pub fn set_app_key(&self, app: &str, key: AppKey) {
        self.inner.app_keys.write().insert(app.to_string(), key);
    }

    /// `GET /v1/records/{index}`, verified through its receipt.
    pub async fn record(&self, index: u64) -> Result<RecordResponse, ClientError> {
        let body: RecordBody = self
            .get_json(&["v1", "records", &index.to_string()], &[])
            .await?;
        if body.index != index {
            return Err(ClientError::Protocol(format!(
                "asked for record {index}, got {}",
                body.index
            )));
        }
        let verified = self.accept_receipt(&body.receipt, index).await?;
        Ok(RecordResponse {
            index,
            record: verified.record,
            receipt: body.receipt,
        })
    }

    /// `GET /v1/receipts/{index}`, verified (signature, inclusion, trusted state).
    pub async fn receipt(&self, index: u64) -> Result<Receipt, ClientError> {
        Ok(self.receipt_checked(index).await?.0)
    }

    async fn receipt_checked(&self, index: u64) -> Result<(Receipt, VerifiedReceipt), ClientError> {
        let r: Receipt = self
            .get_json(&["v1", "receipts", &index.to_string()], &[])
            .await?;
        let verified = self.accept_receipt(&r, index).await?;
        Ok((r, verified))
    }

    /// `GET /v1/proofs/inclusion` (raw; verify against a trusted root).
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ClientError> {
        let q = [("index", index.to_string()), ("size", size.to_string())];
        let body: ProofBody = self.get_json(&["v1", "proofs", "inclusion"], &q).await?;
        verify::decode_hashes(&body.proof)
    }

    /// `GET /v1/proofs/consistency` (raw; [`crate::trust`] verifies it).
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ClientError> {
        let q = [("old", old.to_string()), ("new", new.to_string())];
        let body: ProofBody = self.get_json(&["v1", "proofs", "consistency"], &q).await?;
        verify::decode_hashes(&body.proof)
    }

    /// `GET /blobs/{sha256}`, checked against its name.
    pub async fn blob(&self, sha256: &str) -> Result<Vec<u8>, ClientError> {
        let bytes = self
            .raw(&["blobs", sha256])
            .await?
            .ok_or_else(|| ClientError::Api {
                status: 404,
                code: "blob_not_found".into(),
                message: format!("blob {sha256} not found"),
            })?;
        if ledgervm_node::ids::sha256_hex(&bytes) != sha256 {
            return Err(ClientError::Verification(format!(
                "blob {sha256}: bytes do not hash to their name"
            )));
        }
        Ok(bytes)
    }

    /// Raw GET of a path under the base URL; `None` on 404. Used for `/log/...` and
    /// `/blobs/...`, which are plain bytes.
    pub async fn raw(&self, segments: &[&str]) -> Result<Option<Vec<u8>>, ClientError> {
        let resp = self
            .send(self.inner.http.get(self.url(segments, &[])))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        Ok(Some(resp.bytes().await?.to_vec()))
    }

    /// A hash tile (`/log/tile/<L>/<N>[.p/<W>]`), unverified; `None` on 404.
    pub async fn tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ClientError> {
        let path = format!("log/{}", tile.path());
        self.raw(&path.split('/').collect::<Vec<_>>()).await
    }

    /// An entry bundle (`/log/tile/entries/<N>[.p/<W>]`), unverified; `None` on 404.
    pub async fn entry_bundle(&self, tile: &Tile) -> Result<Option<Vec<u8>>, ClientError> {
        let path = format!("log/{}", tile.entries_path());
        self.raw(&path.split('/').collect::<Vec<_>>()).await
    }
}
