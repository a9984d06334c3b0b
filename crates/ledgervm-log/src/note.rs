//! C2SP `signed-note`: Ed25519 keys, key IDs, `vkey` strings, and signed notes. Pure.
//!
//! ```
//! use ledgervm_log::note::{Note, Signer, VerifierSet};
//!
//! let signer = Signer::from_private_key(
//!     "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
//! ).unwrap();
//! let mut note = Note::new("If you think cryptography is the answer to your problem,\n\
//!                           then you don't know what your problem is.\n").unwrap();
//! signer.sign_note(&mut note);
//! let text = note.format();
//!
//! let verifier = signer.verifier();
//! assert_eq!(verifier.vkey(), "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
//! let opened = Note::open(text.as_bytes(), &VerifierSet::new(vec![Box::new(verifier)])).unwrap();
//! assert_eq!(opened.verified.len(), 1);
//! ```

pub(crate) mod keys;

pub use keys::{
    ALG_COSIGNATURE_V1, ALG_ED25519, NoteVerifier, Signer, Verifier, VerifierSet, is_valid_name,
    key_id,
};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Largest note [`Note::parse`] accepts, in bytes. Checkpoints are a few hundred bytes;
/// the bound only keeps hostile input cheap to reject.
pub const MAX_NOTE_SIZE: usize = 64 * 1024;
/// Most signature lines [`Note::parse`] accepts (the spec requires at least 16; Go's
/// implementation allows 100).
pub const MAX_SIGNATURES: usize = 100;

/// Errors from keys, note parsing and note verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name that is empty, has whitespace or `+`, or is otherwise invalid.
    #[error("invalid key name {0:?}")]
    InvalidName(String),
    /// A malformed `vkey` or private key string.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A key string whose key ID does not match its name and key.
    #[error("key ID does not match the key")]
    KeyIdMismatch,
    /// A key of an algorithm this implementation does not support.
    #[error("unsupported key algorithm {0:#04x}")]
    UnsupportedAlgorithm(u8),
    /// Note syntax is wrong (encoding, structure, signature line).
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// The note exceeds [`MAX_NOTE_SIZE`].
    #[error("note larger than {MAX_NOTE_SIZE} bytes")]
    TooLarge,
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// Two configured verifiers share a name and key ID.
    #[error("ambiguous key {name}+{key_id:08x}")]
    AmbiguousKey {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// A signature by a known key does not verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// No signature by a known key: the note must not be trusted.
    #[error("note has no verifiable signatures")]
    NoVerifiedSignature,
}

impl NoteError {
    /// Stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            NoteError::InvalidName(_) => "note.invalid_name",
            NoteError::MalformedKey(_) => "note.malformed_key",
            NoteError::KeyIdMismatch => "note.key_id_mismatch",
            NoteError::UnsupportedAlgorithm(_) => "note.unsupported_algorithm",
            NoteError::Malformed(_) => "note.malformed",
            NoteError::TooLarge => "note.too_large",
            NoteError::TooManySignatures => "note.too_many_signatures",
            NoteError::AmbiguousKey { .. } => "note.ambiguous_key",
            NoteError::InvalidSignature { .. } => "note.invalid_signature",
            NoteError::NoVerifiedSignature => "note.unverified",
        }
    }
}

/// One signature line: `— <name> base64(key ID || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// 32-bit key ID (the first four bytes of the encoded signature, big-endian).
    pub key_id: u32,
    /// The signature bytes after the key ID (for cosignatures: timestamp || signature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line without its trailing newline.
    pub fn line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}", self.name, B64.encode(raw))
    }
}

/// A note: text plus signatures, verified or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// Signatures in file order.
    pub signatures: Vec<NoteSignature>,
}

/// A note that [`Note::open`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The note, with every signature it carried.
    pub note: Note,
    /// Signatures by known keys, all verified (at least one).
    pub verified: Vec<NoteSignature>,
}

/// Valid UTF-8 (given by `&str`) with no ASCII control character other than newline.
fn check_chars(s: &str) -> Result<(), NoteError> {
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("control character"));
    }
    Ok(())
}

impl Note {
    /// An unsigned note. The text must end with a newline and contain no control
    /// characters other than newlines.
    pub fn new(text: impl Into<String>) -> Result<Note, NoteError> {
        let text = text.into();
        if !text.ends_with('\n') {
            return Err(NoteError::Malformed("text must end with a newline"));
        }
        check_chars(&text)?;
        if text.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge);
        }
        Ok(Note {
            text,
            signatures: Vec::new(),
        })
    }

    /// Add a signature, replacing any existing one with the same name and key ID.
    pub fn add_signature(&mut self, sig: NoteSignature) {
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        self.signatures.push(sig);
    }

    /// Encode: text, blank line, one line per signature.
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 128 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
            out.push('\n');
        }
        out
    }

    /// Parse a signed note's syntax without verifying anything.
    ///
    /// The text is everything up to the last blank line; at least one signature line
    /// must follow it.
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        if msg.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge);
        }
        let msg = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed("invalid UTF-8"))?;
        check_chars(msg)?;
        let split = msg
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no signature block"))?;
        let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature block must end with a newline",
            ));
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(line)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Parse and verify: every signature whose (name, key ID) matches a known verifier
    /// must verify, signatures by unknown keys are kept but ignored, and at least one
    /// known signature is required.
    pub fn open(msg: &[u8], known: &VerifierSet) -> Result<OpenedNote, NoteError> {
        let note = Note::parse(msg)?;
        let verified = note.verify(known)?;
        Ok(OpenedNote { note, verified })
    }

    /// Verify this note's signatures against `known` (rules as in [`Note::open`]);
    /// returns the verified signatures.
    pub fn verify(&self, known: &VerifierSet) -> Result<Vec<NoteSignature>, NoteError> {
        let mut verified = Vec::new();
        for sig in &self.signatures {
            let Some(v) = known.find(&sig.name, sig.key_id)? else {
                continue;
            };
            if !v.verify(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            verified.push(sig.clone());
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(verified)
    }
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed(
        "signature line must start with an em dash",
    ))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(NoteError::Malformed("signature line has no signature"))?;
    if !is_valid_name(name) {
        return Err(NoteError::Malformed("invalid key name in signature line"));
    }
    let raw = B64
        .decode(b64)
        .map_err(|_| NoteError::Malformed("signature is not base64"))?;
    if raw.len() < 5 {
        return Err(NoteError::Malformed("signature too short"));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
        signature: raw[4..].to_vec(),
    })
}

#[cfg(test)]
mod tests;
