//! The identity document: what a server runs, bound to its TLS certificate. **Pure.**
//!
//! In the spirit of RA-TLS (without SGX): the server's certificate carries, in the
//! extension [`IDENTITY_OID`], the SHA-256 of a small text document listing the log's
//! verifier key, the engine fingerprint and the code hash of every loaded app. The
//! document itself is served as a C2SP signed note signed by the log key
//! (`GET /v1/attestation`), so a client that pins the log key can check that the channel
//! it is talking over belongs to a server running exactly these apps.
//!
//! The document's text (the note text, signatures excluded) is:
//!
//! ```text
//! ledgervm.attestation/v1
//! origin localhost/ledgervm
//! vkey localhost/ledgervm+1234abcd+AQ…
//! engine 48.0.8 <config hash>
//! size 7
//! tls-key <hex SHA-256 of the certificate's SubjectPublicKeyInfo>
//! app sum.wasm <code hash> 1
//! ```
//!
//! `tls-key` names the key the TLS certificates are issued for (absent when the
//! document is served over plain HTTP). It is what makes the binding two-way: anyone
//! can copy the extension's digest into a certificate of their own, but only the log
//! key can sign a document naming their TLS key. `size` is the log size when the document was issued (so two documents issued before
//! and after a load/unload always differ); one `app` line per loaded app, by name:
//! name, code hash, index of its `app.load` record. The first line cannot be a checkpoint
//! size, so a document can never be mistaken for a checkpoint signed by the same key.

use ledgervm_runtime::EngineFingerprint;
use sha2::{Digest, Sha256};

/// The X.509 extension OID holding SHA-256(document text), as arcs.
///
/// It lives under IANA Private Enterprise Number 32473, which RFC 5612 reserves for
/// documentation and examples: ledgervm has no registered PEN yet, and using the
/// documentation arc makes that explicit instead of squatting on someone else's arc.
/// A deployment that registers a PEN changes only this constant.
pub const IDENTITY_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 76, 86, 1];

/// [`IDENTITY_OID`] in dotted form.
pub const IDENTITY_OID_STR: &str = "1.3.6.1.4.1.32473.76.86.1";

/// First line of every identity document.
pub const HEADER: &str = "ledgervm.attestation/v1";

/// One loaded app as the document lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdentityApp {
    /// App name.
    pub name: String,
    /// Lowercase hex SHA-256 of the module.
    pub code_hash: String,
    /// Index of the app's `app.load` record.
    pub load_index: u64,
}

/// The parsed identity document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdentityDocument {
    /// Checkpoint origin of the log.
    pub origin: String,
    /// The log's verifier key.
    pub vkey: String,
    /// The engine calls run under.
    pub engine: EngineFingerprint,
    /// Log size when the document was issued.
    pub size: u64,
    /// Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo of the TLS key, if served
    /// over TLS.
    pub tls_key: Option<String>,
    /// Loaded apps, sorted by name.
    pub apps: Vec<IdentityApp>,
}

/// Why a document or certificate extension is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The text does not follow the format above.
    #[error("malformed identity document, line {line}: {why}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The certificate extension is not a DER OCTET STRING of 32 bytes.
    #[error("identity extension is not a 32-byte OCTET STRING")]
    BadExtension,
}

impl IdentityError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Malformed { .. } => "identity_malformed",
            IdentityError::BadExtension => "identity_bad_extension",
        }
    }
}

fn token_ok(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl IdentityDocument {
    /// The note text (ends with a newline). Apps are written sorted by name, so equal
    /// documents have equal text and equal digests.
    pub fn text(&self) -> String {
        let mut apps = self.apps.clone();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = format!(
            "{HEADER}\norigin {}\nvkey {}\nengine {} {}\nsize {}\n",
            self.origin,
            self.vkey,
            self.engine.wasmtime_version,
            self.engine.config_hash,
            self.size
        );
        if let Some(k) = &self.tls_key {
            out.push_str(&format!("tls-key {k}\n"));
        }
        for a in &apps {
            out.push_str(&format!(
                "app {} {} {}\n",
                a.name, a.code_hash, a.load_index
            ));
        }
        out
    }

    /// Parses a document's text (as [`IdentityDocument::text`] writes it).
    pub fn parse(text: &str) -> Result<IdentityDocument, IdentityError> {
        let bad = |line, why| IdentityError::Malformed { line, why };
        let body = text
            .strip_suffix('\n')
            .ok_or(bad(0, "text must end with a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.first() != Some(&HEADER) {
            return Err(bad(
                1,
                "first line is not the ledgervm.attestation/v1 header",
            ));
        }
        let field = |i: usize, key: &'static str, n: usize| -> Result<Vec<&str>, IdentityError> {
            let line = lines.get(i).ok_or(bad(i + 1, "missing line"))?;
            let mut parts = line.split(' ');
            if parts.next() != Some(key) {
                return Err(bad(i + 1, "unexpected key"));
            }
            let rest: Vec<&str> = parts.collect();
            if rest.len() != n || !rest.iter().all(|t| token_ok(t)) {
                return Err(bad(i + 1, "wrong number of fields"));
            }
            Ok(rest)
        };
        let num = |s: &str, line| -> Result<u64, IdentityError> {
            if s.len() > 1 && s.starts_with('0') {
                return Err(bad(line, "number with leading zero"));
            }
            s.parse().map_err(|_| bad(line, "not a decimal number"))
        };
        let origin = field(1, "origin", 1)?[0].to_string();
        let vkey = field(2, "vkey", 1)?[0].to_string();
        let e = field(3, "engine", 2)?;
        let engine = EngineFingerprint {
            wasmtime_version: e[0].to_string(),
            config_hash: e[1].to_string(),
        };
        let size = num(field(4, "size", 1)?[0], 5)?;
        let mut first_app = 5;
        let mut tls_key = None;
        if lines.get(5).is_some_and(|l| l.starts_with("tls-key ")) {
            let k = field(5, "tls-key", 1)?[0];
            if !crate::ids::is_sha256_hex(k) {
                return Err(bad(6, "tls-key is not lowercase hex SHA-256"));
            }
            tls_key = Some(k.to_string());
            first_app = 6;
        }
        let mut apps: Vec<IdentityApp> = Vec::new();
        for i in first_app..lines.len() {
            let f = field(i, "app", 3)?;
            if !crate::ids::is_sha256_hex(f[1]) {
                return Err(bad(i + 1, "code hash is not lowercase hex SHA-256"));
            }
            if apps.last().is_some_and(|p| p.name.as_str() >= f[0]) {
                return Err(bad(i + 1, "apps not sorted by name or repeated"));
            }
            apps.push(IdentityApp {
                name: f[0].to_string(),
                code_hash: f[1].to_string(),
                load_index: num(f[2], i + 1)?,
            });
        }
        Ok(IdentityDocument {
            origin,
            vkey,
            engine,
            size,
            tls_key,
            apps,
        })
    }
}

/// SHA-256 of a document's text: what the certificate extension carries.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Lowercase hex SHA-256 of a DER SubjectPublicKeyInfo: the `tls-key` line's value.
pub fn spki_sha256(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

/// The extension's value (`extnValue` contents): DER `OCTET STRING` of the digest.
pub fn extension_value(digest: &[u8; 32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(34);
    v.extend_from_slice(&[0x04, 0x20]);
    v.extend_from_slice(digest);
    v
}

/// The digest back out of an extension value.
pub fn parse_extension_value(value: &[u8]) -> Result<[u8; 32], IdentityError> {
    match value {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => Ok(rest.try_into().expect("length checked")),
        _ => Err(IdentityError::BadExtension),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc(apps: Vec<IdentityApp>) -> IdentityDocument {
        IdentityDocument {
            origin: "localhost/ledgervm".into(),
            vkey: "localhost/ledgervm+01020304+AQID".into(),
            engine: EngineFingerprint {
                wasmtime_version: "48.0.8".into(),
                config_hash: "ab".repeat(32),
            },
            size: 3,
            tls_key: None,
            apps,
        }
    }

    fn app(name: &str, n: u64) -> IdentityApp {
        IdentityApp {
            name: name.into(),
            code_hash: format!("{:064x}", n),
            load_index: n,
        }
    }

    #[test]
    fn text_is_sorted_and_round_trips() {
        let d = doc(vec![app("b", 2), app("a", 1)]);
        let t = d.text();
        assert!(t.starts_with("ledgervm.attestation/v1\norigin localhost/ledgervm\n"));
        assert!(t.find("app a").unwrap() < t.find("app b").unwrap());
        let back = IdentityDocument::parse(&t).unwrap();
        assert_eq!(back.apps, vec![app("a", 1), app("b", 2)]);
        assert_eq!(back.text(), t);
    }

    #[test]
    fn malformed_documents_are_refused_with_the_line() {
        let good = doc(vec![app("a", 1)]).text();
        let cases = [
            (good.trim_end().to_string(), 0),
            (good.replacen("ledgervm.attestation/v1", "7", 1), 1),
            (good.replacen("origin ", "origin  ", 1), 2),
            (good.replacen("size 3", "size 03", 1), 5),
            (good.replacen("size 3", "size -3", 1), 5),
            (good.clone() + "app a " + &"0".repeat(64) + " 1\n", 7),
            (good.replacen(&format!("{:064x}", 1), "XYZ", 1), 6),
            (good.clone() + "extra\n", 7),
            (good.replacen("size 3\n", "size 3\ntls-key zz\n", 1), 6),
        ];
        for (text, line) in cases {
            match IdentityDocument::parse(&text) {
                Err(IdentityError::Malformed { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn tls_key_line_round_trips() {
        let mut d = doc(vec![app("a", 1)]);
        d.tls_key = Some("cd".repeat(32));
        let t = d.text();
        assert!(t.contains(&format!("size 3\ntls-key {}\napp a", "cd".repeat(32))));
        assert_eq!(IdentityDocument::parse(&t).unwrap(), d);
    }

    #[test]
    fn extension_round_trip_and_rejects_other_shapes() {
        let d = digest("x\n");
        assert_eq!(parse_extension_value(&extension_value(&d)).unwrap(), d);
        assert!(parse_extension_value(&d).is_err());
        assert!(parse_extension_value(&[0x04, 0x1f]).is_err());
        let mut long = extension_value(&d);
        long.push(0);
        assert_eq!(
            parse_extension_value(&long),
            Err(IdentityError::BadExtension)
        );
    }

    proptest! {
        #[test]
        fn any_document_round_trips(
            names in proptest::collection::btree_set("[A-Za-z0-9._-]{1,12}", 0..6),
            size in any::<u64>(),
            key in proptest::option::of("[0-9a-f]{64}"),
        ) {
            let apps = names.iter().enumerate().map(|(i, n)| app(n, i as u64)).collect();
            let mut d = doc(apps);
            d.size = size;
            d.tls_key = key;
            let t = d.text();
            prop_assert_eq!(IdentityDocument::parse(&t).unwrap(), d);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = IdentityDocument::parse(&s);
        }
    }
}
