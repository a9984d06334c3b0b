//! Authorization: who is asking (a verified Ed25519 key, a `--debug` user id, or no
//! one), and whether they may call, load or unload. The first step of the pipeline.
//!
//! The pure parts (payloads, signature and timestamp checks) are in [`crate::signing`]
//! and [`crate::nonces`]; this module adds the server clock, the replay window shared by
//! all requests, the operator's admin key and the policy rules:
//!
//! * **Calls**: a signed call is checked (signature → timestamp → nonce) whatever the
//!   app's policy, so the guest sees a verified key id. Then the policy: `anonymous`
//!   takes anyone; `signed` needs a signature (or, on a `--debug` server, a debug user);
//!   `allow_list` needs a signature by a listed key.
//! * **Load over an existing name, and unload**: only the app's owner (the caller id that
//!   loaded it) or the admin key. An app loaded anonymously has no owner: on a server
//!   without an admin key anyone may replace or unload it (the open, pre-auth
//!   behaviour the demo relies on); with an admin key only the admin may.
//! * **Load of a new name**: anyone on a server without an admin key; a signed (or
//!   debug) requester when there is one. The requester becomes the owner.

use crate::nonces::NonceWindow;
use crate::record::{CallPolicy, CallerAuth};
use crate::registry::AppInfo;
use crate::signing::{
    self, AuthError, CallPayload, DebugAuth, Ed25519Auth, RequestPayload, check_debug_user,
    check_nonce, check_timestamp,
};
use ledgervm_runtime::state::Caller;
use ledgervm_runtime::value::Value;
use parking_lot::Mutex;
use std::time::Duration;

/// How the node authenticates requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthOptions {
    /// The operator's Ed25519 public key (64 hex digits): may load over and unload any
    /// app, and, when set, anonymous loads are refused.
    pub admin_key: Option<String>,
    /// Accept plain user ids ([`Requester::Debug`]), recorded as unauthenticated. For
    /// local development only.
    pub debug: bool,
    /// How far a signed timestamp may be from the server clock, either way (default 2
    /// minutes). Nonces are remembered for as long.
    pub max_skew: Duration,
}

impl Default for AuthOptions {
    fn default() -> AuthOptions {
        AuthOptions {
            admin_key: None,
            debug: false,
            max_skew: Duration::from_secs(120),
        }
    }
}

/// Who is asking, as the transport received it (not yet verified).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Requester {
    /// No identification.
    #[default]
    Anonymous,
    /// A signed request.
    Signed(SignedRequest),
    /// A plain user id (only on a `--debug` node).
    Debug(String),
    /// The process that owns the node (e.g. `ledgervm demo` loading its samples). Never
    /// built from a network request.
    Operator,
}

/// A signature as received, with what it claims to cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// Public key, 64 lowercase hex digits.
    pub key: String,
    /// Signature, 128 lowercase hex digits.
    pub signature: String,
    /// Nonce (1-64 of `A-Za-z0-9_-`).
    pub nonce: String,
    /// Caller's clock, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Calls: the code hash the caller signed, if stated; a different loaded version is
    /// refused as `auth.code_changed` rather than as a bad signature.
    pub code_hash: Option<String>,
    /// Load/unload: the request path and query as sent (what was signed).
    pub target: Option<String>,
}

/// Checks a policy before it is recorded: allow-list entries must be public keys.
pub fn check_policy(policy: &CallPolicy) -> Result<(), AuthError> {
    if let CallPolicy::AllowList(keys) = policy {
        for k in keys {
            signing::parse_key(k)?;
        }
    }
    Ok(())
}

/// What a load or unload asks for, for [`Authorizer::authorize_admin`].
pub(crate) struct AdminAsk<'a> {
    pub(crate) origin: &'a str,
    pub(crate) method: &'a str,
    pub(crate) name: &'a str,
    pub(crate) body_sha256: &'a str,
    pub(crate) existing: Option<&'a AppInfo>,
}

/// The node's authorizer: options, clock and the replay window.
#[derive(Debug)]
pub(crate) struct Authorizer {
    opts: AuthOptions,
    window: Mutex<NonceWindow>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Authorizer {
    /// Checks the options (a malformed admin key is refused up front).
    pub(crate) fn new(opts: AuthOptions) -> Result<Authorizer, AuthError> {
        if let Some(k) = &opts.admin_key {
            signing::parse_key(k)?;
        }
        let skew = opts.max_skew.as_millis() as u64;
        Ok(Authorizer {
            opts,
            window: Mutex::new(NonceWindow::new(skew)),
        })
    }

    pub(crate) fn options(&self) -> &AuthOptions {
        &self.opts
    }

    /// Signature, then timestamp, then nonce: unauthenticated junk never enters the
    /// window, and a stale or replayed request is reported as such only when genuine.
    fn check_signed(&self, req: &SignedRequest, payload: &[u8]) -> Result<(), AuthError> {
        check_nonce(&req.nonce)?;
        signing::verify(&req.key, &req.signature, payload)?;
        let now = now_ms();
        let skew = self.opts.max_skew.as_millis() as u64;
        check_timestamp(req.timestamp_ms, now, skew)?;
        self.window
            .lock()
            .check_and_insert(&req.key, &req.nonce, req.timestamp_ms, now)
    }

    fn debug_user(&self, user: &str) -> Result<CallerAuth, AuthError> {
        if !self.opts.debug {
            return Err(AuthError::DebugDisabled);
        }
        check_debug_user(user)?;
        Ok(CallerAuth::Debug(DebugAuth {
            user: user.to_string(),
        }))
    }

    /// Authenticates a call and applies the app's policy. Returns the caller the guest
    /// sees and the proof to store in the record.
    pub(crate) fn authorize_call(
        &self,
        origin: &str,
        app: &AppInfo,
        func: &str,
        args: &[Value],
        requester: &Requester,
    ) -> Result<(Caller, Option<CallerAuth>), AuthError> {
        let auth = match requester {
            Requester::Anonymous | Requester::Operator => None,
            Requester::Debug(user) => Some(self.debug_user(user)?),
            Requester::Signed(req) => {
                if let Some(signed) = &req.code_hash
                    && *signed != app.code_hash
                {
                    return Err(AuthError::CodeChanged {
                        signed: signed.clone(),
                        loaded: app.code_hash.clone(),
                    });
                }
                let payload = CallPayload {
                    origin,
                    app: &app.name,
                    code_hash: &app.code_hash,
                    func,
                    args,
                    nonce: &req.nonce,
                    timestamp_ms: req.timestamp_ms,
                };
                self.check_signed(req, &payload.to_bytes())?;
                Some(CallerAuth::Ed25519(Ed25519Auth {
                    key: req.key.clone(),
                    signature: req.signature.clone(),
                    nonce: req.nonce.clone(),
                    timestamp_ms: req.timestamp_ms,
                    target: None,
                    body_sha256: None,
                }))
            }
        };
        let what = || format!("app {:?}", app.name);
        match (&app.policy, &auth) {
            (CallPolicy::Anonymous, _) => {}
            (CallPolicy::Signed, Some(_)) => {}
            (CallPolicy::AllowList(keys), Some(CallerAuth::Ed25519(a))) => {
                if !keys.contains(&a.key) {
                    return Err(AuthError::NotAllowed(a.key.clone()));
                }
            }
            (CallPolicy::AllowList(_), Some(d @ CallerAuth::Debug(_))) => {
                return Err(AuthError::NotAllowed(d.caller_id()));
            }
            (CallPolicy::Signed | CallPolicy::AllowList(_), None) => {
                return Err(AuthError::SignatureRequired(what()));
            }
        }
        let caller = match &auth {
            Some(a) => Caller::with_id(a.caller_id()),
            None => Caller::anonymous(),
        };
        Ok((caller, auth))
    }

    /// Authenticates a load or unload and checks ownership. Returns the requester's
    /// caller id (the new owner, for a load) and the proof to store.
    pub(crate) fn authorize_admin(
        &self,
        ask: &AdminAsk<'_>,
        requester: &Requester,
    ) -> Result<(Option<String>, Option<CallerAuth>), AuthError> {
        let auth = match requester {
            Requester::Operator => return Ok((None, None)),
            Requester::Anonymous => None,
            Requester::Debug(user) => Some(self.debug_user(user)?),
            Requester::Signed(req) => {
                let target = req.target.as_deref().ok_or_else(|| {
                    AuthError::Malformed("a signed load/unload must carry its target".into())
                })?;
                let payload = RequestPayload {
                    origin: ask.origin,
                    method: ask.method,
                    target,
                    body_sha256: ask.body_sha256,
                    nonce: &req.nonce,
                    timestamp_ms: req.timestamp_ms,
                };
                let stored = Ed25519Auth {
                    key: req.key.clone(),
                    signature: req.signature.clone(),
                    nonce: req.nonce.clone(),
                    timestamp_ms: req.timestamp_ms,
                    target: Some(target.to_string()),
                    body_sha256: Some(ask.body_sha256.to_string()),
                };
                // The target must name this app: the stored proof is checked that way.
                signing::verify_stored_request(&stored, ask.origin, ask.method, ask.name)?;
                self.check_signed(req, &payload.to_bytes())?;
                Some(CallerAuth::Ed25519(stored))
            }
        };
        let id = auth.as_ref().map(CallerAuth::caller_id);
        let is_admin = matches!(
            (&auth, &self.opts.admin_key),
            (Some(CallerAuth::Ed25519(a)), Some(admin)) if a.key == *admin
        );
        let action = if ask.method == "DELETE" {
            "unload"
        } else {
            "load over"
        };
        let owner = ask.existing.map(|e| e.owner.as_deref());
        let allowed = is_admin
            || match owner {
                // Owned: the owner only.
                Some(Some(o)) => id.as_deref() == Some(o),
                // Ownerless: anyone on an open server, the admin only otherwise.
                Some(None) => self.opts.admin_key.is_none(),
                // New name: anyone on an open server, an identified requester otherwise.
                None => self.opts.admin_key.is_none() || id.is_some(),
            };
        if allowed {
            return Ok((id, auth));
        }
        if id.is_none() {
            return Err(AuthError::SignatureRequired(format!(
                "to {action} app {:?}, this server",
                ask.name
            )));
        }
        Err(AuthError::NotOwner(match owner {
            Some(Some(o)) => format!(
                "only its owner ({o}) or the admin key may {action} app {:?}",
                ask.name
            ),
            _ => format!("only the admin key may {action} app {:?}", ask.name),
        }))
    }

    /// Puts a recorded proof's nonce back into the window (recovery from the log).
    pub(crate) fn remember(&self, auth: Option<&CallerAuth>) {
        if let Some(CallerAuth::Ed25519(a)) = auth {
            self.window
                .lock()
                .remember(&a.key, &a.nonce, a.timestamp_ms);
        }
    }

    /// Drops what the clock has made stale (after recovery).
    pub(crate) fn prune(&self) {
        self.window.lock().prune(now_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CallPolicy;
    use ledgervm_runtime::{AppKind, Limits};

    fn app(policy: CallPolicy, owner: Option<&str>) -> AppInfo {
        AppInfo {
            name: "a".into(),
            code_hash: "ab".repeat(32),
            cid: String::new(),
            app_kind: AppKind::CoreModule,
            exports: vec![],
            index: 1,
            size: 0,
            limits: Limits::default(),
            policy,
            owner: owner.map(str::to_string),
            key_source: crate::secret::KeySource::Generated,
            key_id: "77".repeat(32),
            private: false,
            max_keys: 1000,
        }
    }

    fn authz(admin: bool, debug: bool) -> Authorizer {
        Authorizer::new(AuthOptions {
            admin_key: admin.then(|| {
                let k = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
                hex::encode(k.verifying_key().as_bytes())
            }),
            debug,
            ..Default::default()
        })
        .unwrap()
    }

    fn admin_code(z: &Authorizer, existing: Option<&AppInfo>, who: &Requester) -> &'static str {
        let ask = AdminAsk {
            origin: "o",
            method: "DELETE",
            name: "a",
            body_sha256: crate::ids::EMPTY_SHA256,
            existing,
        };
        match z.authorize_admin(&ask, who) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn ownership_matrix() {
        let (anon, alice, bob) = (
            Requester::Anonymous,
            Requester::Debug("alice".into()),
            Requester::Debug("bob".into()),
        );
        let owned = app(CallPolicy::Anonymous, Some("debug:alice"));
        let ownerless = app(CallPolicy::Anonymous, None);
        // (admin key set, existing app, requester) → code
        let cases = [
            (false, None, &anon, "ok"),
            (true, None, &anon, "auth.signature_required"),
            (true, None, &bob, "ok"),
            (false, Some(&ownerless), &anon, "ok"),
            (true, Some(&ownerless), &anon, "auth.signature_required"),
            (true, Some(&ownerless), &bob, "auth.not_owner"),
            (false, Some(&owned), &alice, "ok"),
            (false, Some(&owned), &bob, "auth.not_owner"),
            (false, Some(&owned), &anon, "auth.signature_required"),
            (true, Some(&owned), &Requester::Operator, "ok"),
        ];
        for (admin, existing, who, code) in cases {
            let z = authz(admin, true);
            assert_eq!(
                admin_code(&z, existing, who),
                code,
                "{admin} {existing:?} {who:?}"
            );
        }
        assert_eq!(
            admin_code(&authz(false, false), None, &alice),
            "auth.debug_disabled"
        );
    }

    #[test]
    fn call_policies_for_unsigned_requesters() {
        let z = authz(false, true);
        let code = |policy: CallPolicy, who: &Requester| match z.authorize_call(
            "o",
            &app(policy, None),
            "f",
            &[],
            who,
        ) {
            Ok((caller, _)) => caller.id.unwrap_or_else(|| "anonymous".into()),
            Err(e) => e.code().to_string(),
        };
        let alice = Requester::Debug("alice".into());
        assert_eq!(
            code(CallPolicy::Anonymous, &Requester::Anonymous),
            "anonymous"
        );
        assert_eq!(code(CallPolicy::Anonymous, &alice), "debug:alice");
        assert_eq!(code(CallPolicy::Signed, &alice), "debug:alice");
        assert_eq!(
            code(CallPolicy::Signed, &Requester::Anonymous),
            "auth.signature_required"
        );
        let list = CallPolicy::AllowList(vec!["ab".repeat(32)]);
        assert_eq!(code(list.clone(), &alice), "auth.not_allowed");
        assert_eq!(code(list, &Requester::Anonymous), "auth.signature_required");
        assert!(check_policy(&CallPolicy::AllowList(vec!["alice".into()])).is_err());
        assert!(
            Authorizer::new(AuthOptions {
                admin_key: Some("nope".into()),
                ..Default::default()
            })
            .is_err()
        );
    }
}
