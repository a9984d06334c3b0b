//! Keys: key IDs, Ed25519 signers and verifiers, their text encodings, verifier sets.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{Note, NoteError, NoteSignature};

/// Signature type byte of plain Ed25519 note signatures (C2SP `signed-note`).
pub const ALG_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 witness cosignatures
/// (C2SP `tlog-cosignature`).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Key ID: the first four bytes, big-endian, of `SHA-256(name || "\n" || alg || key)`.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A key name is non-empty and has no Unicode whitespace, no `+` and no control
/// characters (the last would make any note carrying it malformed).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidName(name.to_owned()))
    }
}

/// Split `name+hex8+base64` into its parts, checking the name and hex syntax.
/// Returns (name, key ID, decoded key bytes).
pub(crate) fn split_key_string(s: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let (name, rest) = s
        .split_once('+')
        .ok_or(NoteError::MalformedKey("missing '+'"))?;
    let (hex8, b64) = rest
        .split_once('+')
        .ok_or(NoteError::MalformedKey("missing '+'"))?;
    check_name(name)?;
    if hex8.len() != 8
        || !hex8
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(NoteError::MalformedKey(
            "key ID must be 8 lowercase hex digits",
        ));
    }
    let id = u32::from_str_radix(hex8, 16).map_err(|_| NoteError::MalformedKey("bad key ID"))?;
    let key = B64
        .decode(b64)
        .map_err(|_| NoteError::MalformedKey("key is not base64"))?;
    if key.is_empty() {
        return Err(NoteError::MalformedKey("empty key"));
    }
    Ok((name, id, key))
}

/// Anything that can check one key's signatures on a note text: a log's
/// [`Verifier`] or a witness's `CosignatureVerifier` (see [`crate::checkpoint`]).
pub trait NoteVerifier: Send + Sync {
    /// Key name.
    fn name(&self) -> &str;
    /// Key ID.
    fn key_id(&self) -> u32;
    /// Whether `signature` (the bytes after the key ID) is valid for `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// An Ed25519 note signer (signature type 0x01).
#[derive(Clone)]
pub struct Signer {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        write!(f, "Signer({}+{:08x})", self.name, self.key_id)
    }
}

impl Signer {
    /// A signer for `name` with the given key.
    pub fn new(name: &str, key: SigningKey) -> Result<Signer, NoteError> {
        check_name(name)?;
        let key_id = key_id(name, ALG_ED25519, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// A signer with a fresh random key.
    pub fn generate(name: &str) -> Result<Signer, NoteError> {
        Signer::new(name, SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Parse Go's `note.NewSigner` format: `PRIVATE+KEY+<name>+<hex8>+base64(0x01 || seed)`.
    pub fn from_private_key(s: &str) -> Result<Signer, NoteError> {
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey("missing PRIVATE+KEY+ prefix"))?;
        let (name, id, key) = split_key_string(rest)?;
        if key[0] != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(key[0]));
        }
        let seed: [u8; 32] = key[1..]
            .try_into()
            .map_err(|_| NoteError::MalformedKey("Ed25519 seed must be 32 bytes"))?;
        let signer = Signer::new(name, SigningKey::from_bytes(&seed))?;
        // The ID names the public key; a mismatch means a corrupted or spliced string.
        if signer.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(signer)
    }

    /// Encode in Go's `note.NewSigner` format. This string is the secret key.
    pub fn to_private_key(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            B64.encode(raw)
        )
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The underlying Ed25519 key (e.g. to also act as a witness cosigner).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// Raw Ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        ed25519_dalek::Signer::sign(&self.key, msg).to_bytes()
    }

    /// Sign `note`'s text, replacing any earlier signature by this key.
    pub fn sign_note(&self, note: &mut Note) {
        let sig = self.sign(note.text.as_bytes());
        note.add_signature(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: sig.to_vec(),
        });
    }
}

/// An Ed25519 note verifier (signature type 0x01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key: VerifyingKey,
    key_id: u32,
}

impl Verifier {
    /// A verifier for `name` with the given public key.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Verifier, NoteError> {
        check_name(name)?;
        Ok(Verifier {
            name: name.to_owned(),
            key_id: key_id(name, ALG_ED25519, key.as_bytes()),
            key,
        })
    }

    /// Parse a `vkey`: `<name>+<hex8(key ID)>+base64(0x01 || public key)`.
    pub fn from_vkey(vkey: &str) -> Result<Verifier, NoteError> {
        let (name, _, key) = parse_ed25519_vkey(vkey, &[ALG_ED25519])?;
        Verifier::new(name, key)
    }

    /// Encode as a `vkey` string.
    pub fn vkey(&self) -> String {
        encode_vkey(&self.name, self.key_id, ALG_ED25519, &self.key)
    }

    /// The public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl NoteVerifier for Verifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        ed25519_dalek::Verifier::verify(&self.key, text, &sig).is_ok()
    }
}

/// The keys a client trusts, looked up by (name, key ID).
#[derive(Default)]
pub struct VerifierSet {
    verifiers: Vec<Box<dyn NoteVerifier>>,
}

impl VerifierSet {
    /// A set of verifiers (log keys and witness keys may be mixed).
    pub fn new(verifiers: Vec<Box<dyn NoteVerifier>>) -> VerifierSet {
        VerifierSet { verifiers }
    }

    /// Add a verifier.
    pub fn push(&mut self, v: Box<dyn NoteVerifier>) {
        self.verifiers.push(v);
    }

    /// The verifier for (name, key ID): `None` if unknown, an error if ambiguous.
    pub fn find(&self, name: &str, key_id: u32) -> Result<Option<&dyn NoteVerifier>, NoteError> {
        let mut found = None;
        for v in &self.verifiers {
            if v.name() == name && v.key_id() == key_id {
                if found.is_some() {
                    return Err(NoteError::AmbiguousKey {
                        name: name.to_owned(),
                        key_id,
                    });
                }
                found = Some(v.as_ref());
            }
        }
        Ok(found)
    }
}

/// Parses a `vkey` whose key is Ed25519 under one of the `accepted` type bytes, checking
/// the key ID against the name and key. Returns the name, the type byte and the key.
/// Shared by note verifiers and witness (cosignature) verifiers, which differ only in
/// the type bytes they accept.
pub(crate) fn parse_ed25519_vkey<'a>(
    vkey: &'a str,
    accepted: &[u8],
) -> Result<(&'a str, u8, VerifyingKey), NoteError> {
    let (name, id, key) = split_key_string(vkey)?;
    let alg = key[0];
    if !accepted.contains(&alg) {
        return Err(NoteError::UnsupportedAlgorithm(alg));
    }
    if key_id(name, alg, &key[1..]) != id {
        return Err(NoteError::KeyIdMismatch);
    }
    let pk: [u8; 32] = key[1..]
        .try_into()
        .map_err(|_| NoteError::MalformedKey("Ed25519 public key must be 32 bytes"))?;
    let pk = VerifyingKey::from_bytes(&pk)
        .map_err(|_| NoteError::MalformedKey("not an Ed25519 public key"))?;
    Ok((name, alg, pk))
}

/// Encodes `<name>+<hex8(key ID)>+base64(alg || public key)`.
pub(crate) fn encode_vkey(name: &str, key_id: u32, alg: u8, key: &VerifyingKey) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(key.as_bytes());
    format!("{name}+{key_id:08x}+{}", B64.encode(raw))
}
