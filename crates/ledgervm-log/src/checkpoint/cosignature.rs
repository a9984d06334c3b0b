//! C2SP `tlog-cosignature` v1 with Ed25519 (signature type 0x04): a witness's
//! timestamped statement that it saw a checkpoint consistent with everything before.
//!
//! Signature line payload: `key ID (4) || timestamp (8, big-endian) || Ed25519 sig (64)`,
//! the signature taken over `cosignature/v1\ntime <timestamp>\n<checkpoint body>`.

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

use super::{Checkpoint, CheckpointError};
use crate::note::{
    ALG_COSIGNATURE_V1, ALG_ED25519, Note, NoteError, NoteSignature, NoteVerifier, is_valid_name,
    key_id,
};

/// Largest timestamp the spec allows (2^63 − 1).
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = i64::MAX as u64;

/// The message a v1 cosignature signs.
pub fn cosigned_message(note_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{note_text}").into_bytes()
}

/// The timestamp in a cosignature line's payload (the bytes after the key ID).
pub fn cosignature_timestamp(sig: &NoteSignature) -> Result<u64, NoteError> {
    if sig.signature.len() != 8 + 64 {
        return Err(NoteError::Malformed("cosignature must be 72 bytes"));
    }
    let ts = u64::from_be_bytes(sig.signature[..8].try_into().expect("8 bytes"));
    if ts > MAX_COSIGNATURE_TIMESTAMP {
        return Err(NoteError::Malformed("cosignature timestamp above 2^63-1"));
    }
    Ok(ts)
}

/// A witness key producing v1 cosignatures.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cosigner({}+{:08x})", self.name, self.key_id)
    }
}

impl Cosigner {
    /// A cosigner named `name` (a schema-less URL by convention).
    pub fn new(name: &str, key: SigningKey) -> Result<Cosigner, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName(name.to_owned()));
        }
        Ok(Cosigner {
            key_id: key_id(name, ALG_COSIGNATURE_V1, key.verifying_key().as_bytes()),
            name: name.to_owned(),
            key,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID (type 0x04 derivation).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// Cosign `checkpoint` as of `timestamp` (POSIX seconds).
    pub fn cosign(
        &self,
        checkpoint: &Checkpoint,
        timestamp: u64,
    ) -> Result<NoteSignature, CheckpointError> {
        let note = checkpoint.to_note()?;
        self.cosign_text(&note.text, timestamp)
    }

    /// Cosign a checkpoint note in place (replacing an earlier cosignature by this key).
    pub fn cosign_note(&self, note: &mut Note, timestamp: u64) -> Result<(), CheckpointError> {
        // Only checkpoints may be cosigned: the statement is about a tree head.
        Checkpoint::parse(&note.text)?;
        let sig = self.cosign_text(&note.text, timestamp)?;
        note.add_signature(sig);
        Ok(())
    }

    fn cosign_text(&self, text: &str, timestamp: u64) -> Result<NoteSignature, CheckpointError> {
        if timestamp > MAX_COSIGNATURE_TIMESTAMP {
            return Err(NoteError::Malformed("cosignature timestamp above 2^63-1").into());
        }
        let sig = ed25519_dalek::Signer::sign(&self.key, &cosigned_message(text, timestamp));
        let mut payload = timestamp.to_be_bytes().to_vec();
        payload.extend_from_slice(&sig.to_bytes());
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: payload,
        })
    }
}

/// Verifies a witness's v1 cosignatures; goes in a [`crate::note::VerifierSet`] next
/// to the log's own verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key: VerifyingKey,
    key_id: u32,
}

impl CosignatureVerifier {
    /// A verifier for witness `name` with Ed25519 key `key`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<CosignatureVerifier, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName(name.to_owned()));
        }
        Ok(CosignatureVerifier {
            key_id: key_id(name, ALG_COSIGNATURE_V1, key.as_bytes()),
            name: name.to_owned(),
            key,
        })
    }

    /// Parse a witness `vkey`. The native form has type byte 0x04; a plain Ed25519
    /// (0x01) vkey is also accepted, as many witnesses publish their key that way —
    /// either way the cosignature key ID is derived with 0x04.
    pub fn from_vkey(vkey: &str) -> Result<CosignatureVerifier, NoteError> {
        let (name, _, key) =
            crate::note::keys::parse_ed25519_vkey(vkey, &[ALG_COSIGNATURE_V1, ALG_ED25519])?;
        CosignatureVerifier::new(name, key)
    }

    /// Encode as a native (type 0x04) `vkey`.
    pub fn vkey(&self) -> String {
        crate::note::keys::encode_vkey(&self.name, self.key_id, ALG_COSIGNATURE_V1, &self.key)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        if signature.len() != 72 {
            return false;
        }
        let ts = u64::from_be_bytes(signature[..8].try_into().expect("8 bytes"));
        if ts > MAX_COSIGNATURE_TIMESTAMP {
            return false;
        }
        let Ok(text) = std::str::from_utf8(text) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&signature[8..]) else {
            return false;
        };
        ed25519_dalek::Verifier::verify(&self.key, &cosigned_message(text, ts), &sig).is_ok()
    }
}
