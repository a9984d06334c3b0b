//! C2SP `tlog-checkpoint` bodies and `tlog-cosignature` witness cosignatures. Pure.
//!
//! ```
//! use ledgervm_log::checkpoint::Checkpoint;
//! use ledgervm_log::note::{Signer, VerifierSet};
//!
//! let log_key = Signer::generate("example.com/log").unwrap();
//! let cp = Checkpoint::new("example.com/log", 3, [7u8; 32]).unwrap();
//! let signed = cp.sign(&log_key).unwrap();
//!
//! let known = VerifierSet::new(vec![Box::new(log_key.verifier())]);
//! let (got, _note) = Checkpoint::open(signed.as_bytes(), "example.com/log", &known).unwrap();
//! assert_eq!(got, cp);
//! ```

mod cosignature;

pub use cosignature::{
    CosignatureVerifier, Cosigner, MAX_COSIGNATURE_TIMESTAMP, cosignature_timestamp,
    cosigned_message,
};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::merkle::Hash;
use crate::note::{Note, NoteError, OpenedNote, Signer, VerifierSet};

/// Errors from checkpoint parsing, formatting and opening.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The body does not follow `origin\nsize\nbase64(root)\n[extensions]`.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The checkpoint is for another log.
    #[error("checkpoint origin {got:?} is not the expected {want:?}")]
    WrongOrigin {
        /// Origin expected by the caller.
        want: String,
        /// Origin in the checkpoint.
        got: String,
    },
    /// The signed note around the checkpoint failed to parse or verify.
    #[error(transparent)]
    Note(#[from] NoteError),
}

impl CheckpointError {
    /// Stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            CheckpointError::Malformed(_) => "checkpoint.malformed",
            CheckpointError::WrongOrigin { .. } => "checkpoint.wrong_origin",
            CheckpointError::Note(e) => e.code(),
        }
    }
}

/// A checkpoint body: the log's tree head at some size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `example.com/log42`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash at `size`.
    pub root_hash: Hash,
    /// Opaque extension lines (without newlines); each must be non-empty.
    pub extensions: Vec<String>,
}

fn check_line(s: &str, what: &'static str) -> Result<(), CheckpointError> {
    if s.is_empty() {
        return Err(CheckpointError::Malformed(what));
    }
    if s.chars().any(|c| c < ' ') {
        return Err(CheckpointError::Malformed(
            "control character or newline in a line",
        ));
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint without extension lines. The origin must be a non-empty single line.
    pub fn new(origin: &str, size: u64, root_hash: Hash) -> Result<Checkpoint, CheckpointError> {
        check_line(origin, "empty origin")?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root_hash,
            extensions: Vec::new(),
        })
    }

    /// The note text: `origin\nsize\nbase64(root)\n` then one line per extension.
    pub fn format(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root_hash)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parse a note text strictly: non-empty origin, decimal size without leading
    /// zeros, canonical base64 of exactly 32 bytes, non-empty extension lines, and a
    /// final newline.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or("");
        check_line(origin, "empty origin")?;
        let size = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing size"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(CheckpointError::Malformed(
                "size is not a canonical decimal",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| CheckpointError::Malformed("size out of range"))?;
        let root = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing root hash"))?;
        let root = B64
            .decode(root)
            .map_err(|_| CheckpointError::Malformed("root hash is not base64"))?;
        let root_hash: Hash = root
            .try_into()
            .map_err(|_| CheckpointError::Malformed("root hash is not 32 bytes"))?;
        let mut extensions = Vec::new();
        for e in lines {
            check_line(e, "empty extension line")?;
            extensions.push(e.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root_hash,
            extensions,
        })
    }

    /// The unsigned note holding this checkpoint.
    pub fn to_note(&self) -> Result<Note, CheckpointError> {
        check_line(&self.origin, "empty origin")?;
        for e in &self.extensions {
            check_line(e, "empty extension line")?;
        }
        Ok(Note::new(self.format())?)
    }

    /// Sign with the log's key and encode as a signed note.
    pub fn sign(&self, signer: &Signer) -> Result<String, CheckpointError> {
        let mut note = self.to_note()?;
        signer.sign_note(&mut note);
        Ok(note.format())
    }

    /// Open a signed checkpoint: the note must verify against `known` (see
    /// [`Note::open`]), its text must be a checkpoint, and its origin must be `origin`.
    ///
    /// `known` should hold the log's key; witness keys may be added. Note that any one
    /// known key suffices: a client that requires the log's own signature *and* a quorum
    /// of witnesses checks [`OpenedNote::verified`] itself.
    pub fn open(
        msg: &[u8],
        origin: &str,
        known: &VerifierSet,
    ) -> Result<(Checkpoint, OpenedNote), CheckpointError> {
        let opened = Note::open(msg, known)?;
        let cp = Checkpoint::parse(&opened.note.text)?;
        if cp.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                want: origin.to_owned(),
                got: cp.origin,
            });
        }
        Ok((cp, opened))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_body_parses() {
        // The example in C2SP tlog-checkpoint.md.
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse(text).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert_eq!(
            B64.encode(cp.root_hash),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert_eq!(cp.format(), text);
    }

    #[test]
    fn extensions_round_trip() {
        let mut cp = Checkpoint::new("o", 0, [0; 32]).unwrap();
        cp.extensions = vec!["ext one".into(), "— two".into()];
        let text = cp.format();
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
    }

    #[test]
    fn rejects_malformed() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            String::new(),
            "\n".into(),
            format!("o\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n00\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n 1\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\n".into(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".into(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=A\n".into(),
            // Non-canonical base64: trailing bits set.
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".into(),
            "o\n1\nAAAA\n".into(),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\n1\n{root}\nex\tt\n"),
            format!("o\r\n1\n{root}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "accepted {bad:?}");
        }
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
        assert!(Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).is_ok());
        assert!(Checkpoint::new("", 1, [0; 32]).is_err());
        assert!(Checkpoint::new("a\nb", 1, [0; 32]).is_err());
        let mut cp = Checkpoint::new("o", 1, [0; 32]).unwrap();
        cp.extensions.push(String::new());
        assert!(cp.to_note().is_err());
    }
}
