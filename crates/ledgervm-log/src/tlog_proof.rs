//! C2SP `tlog-proof`: an offline-verifiable proof that an entry is in a log — a
//! checkpoint, the entry's index and its inclusion proof in one text. Pure: no I/O.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>            (optional, unauthenticated)
//! index <N>
//! <base64 hash>             (zero or more: leaf's sibling first)
//!
//! <signed checkpoint, verbatim>
//! ```
//!
//! Parsing checks only the shape; callers verify the checkpoint's signatures with
//! [`crate::note`] and the inclusion with [`crate::merkle::verify_inclusion`].
//!
//! ```
//! use ledgervm_log::tlog_proof::TlogProof;
//! let p = TlogProof {
//!     extra: None,
//!     index: 3,
//!     proof: vec![[1u8; 32]],
//!     checkpoint: b"example.com/log\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 example.com/log AAAA\n".to_vec(),
//! };
//! let text = p.to_text();
//! assert!(text.starts_with(b"c2sp.org/tlog-proof@v1\nindex 3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n"));
//! assert_eq!(TlogProof::parse(&text).unwrap(), p);
//! ```

use crate::merkle::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Longest inclusion proof accepted: a tree of 2^63 leaves needs 63 hashes.
const MAX_PROOF_HASHES: usize = 63;

/// Largest proof text accepted, to bound work on hostile input.
pub const MAX_PROOF_TEXT: usize = 64 * 1024;

/// A parsed `tlog-proof`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry.
    pub index: u64,
    /// Inclusion proof, leaf's sibling first.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim (ends with a newline).
    pub checkpoint: Vec<u8>,
}

/// Why a proof text is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed tlog-proof: {0}")]
pub struct TlogProofError(pub &'static str);

impl TlogProofError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        "malformed_tlog_proof"
    }
}

impl TlogProof {
    /// The proof's text form.
    pub fn to_text(&self) -> Vec<u8> {
        use std::fmt::Write;
        // Sized up front and base64-encoded in place: one allocation per receipt.
        let extra = self
            .extra
            .as_ref()
            .map_or(0, |e| 7 + e.len().div_ceil(3) * 4);
        let mut out = String::with_capacity(
            HEADER.len() + extra + 28 + 45 * self.proof.len() + 2 + self.checkpoint.len(),
        );
        out.push_str(HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            B64.encode_string(extra, &mut out);
            out.push('\n');
        }
        let _ = writeln!(out, "index {}", self.index);
        for h in &self.proof {
            B64.encode_string(h, &mut out);
            out.push('\n');
        }
        out.push('\n');
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Parses a proof text, strictly (canonical decimal index, 32-byte base64 hashes).
    pub fn parse(text: &[u8]) -> Result<TlogProof, TlogProofError> {
        let err = TlogProofError;
        if text.len() > MAX_PROOF_TEXT {
            return Err(err("too large"));
        }
        // Split off the checkpoint at the first blank line.
        let sep = text
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or(err("no blank line before the checkpoint"))?;
        let head = std::str::from_utf8(&text[..sep + 1]).map_err(|_| err("not UTF-8"))?;
        let checkpoint = text[sep + 2..].to_vec();
        if checkpoint.is_empty() {
            return Err(err("missing checkpoint"));
        }
        let mut lines = head.strip_suffix('\n').unwrap_or(head).split('\n');
        if lines.next() != Some(HEADER) {
            return Err(err("first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or(err("missing index line"))?;
        let mut extra = None;
        if let Some(b) = line.strip_prefix("extra ") {
            extra = Some(B64.decode(b).map_err(|_| err("extra is not base64"))?);
            line = lines.next().ok_or(err("missing index line"))?;
        }
        let digits = line
            .strip_prefix("index ")
            .ok_or(err("missing index line"))?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(err("index is not a canonical decimal"));
        }
        let index = digits.parse().map_err(|_| err("index out of range"))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(err("proof too long"));
            }
            let bytes = B64.decode(l).map_err(|_| err("proof line is not base64"))?;
            proof.push(
                <Hash>::try_from(bytes.as_slice())
                    .map_err(|_| err("proof hash is not 32 bytes"))?,
            );
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CP: &[u8] = b"example.com/log\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 example.com/log AAAA\n";

    #[test]
    fn round_trips_with_and_without_extra() {
        for extra in [None, Some(b"ctx".to_vec()), Some(vec![])] {
            for n in [0usize, 1, 5] {
                let p = TlogProof {
                    extra: extra.clone(),
                    index: 1234,
                    proof: (0..n).map(|i| [i as u8; 32]).collect(),
                    checkpoint: CP.to_vec(),
                };
                assert_eq!(TlogProof::parse(&p.to_text()).unwrap(), p);
            }
        }
    }

    #[test]
    fn spec_shape_parses() {
        let text = b"c2sp.org/tlog-proof@v1\nextra YWJj\nindex 73894\ngSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\nB95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\nexample.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n\xe2\x80\x94 example.com/fancylog AAAA\n";
        let p = TlogProof::parse(text).unwrap();
        assert_eq!(p.index, 73894);
        assert_eq!(p.extra.as_deref(), Some(&b"abc"[..]));
        assert_eq!(p.proof.len(), 2);
        assert!(p.checkpoint.starts_with(b"example.com/fancylog\n109482\n"));
        assert_eq!(p.to_text(), text.to_vec());
    }

    #[test]
    fn rejects_malformed() {
        let good = TlogProof {
            extra: None,
            index: 7,
            proof: vec![[9; 32]],
            checkpoint: CP.to_vec(),
        }
        .to_text();
        let s = String::from_utf8(good.clone()).unwrap();
        let cases = [
            s.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
            s.replace("index 7", "index 07"),
            s.replace("index 7", "index -7"),
            s.replace("index 7", "index "),
            s.replace("index 7", "idx 7"),
            s.replace("index 7", "index 99999999999999999999999"),
            s.replace("CQkJ", "CQk"),
            s.replace("\n\nexample", "\nexample"),
            s.split("\n\n").next().unwrap().to_string() + "\n\n",
        ];
        for c in cases {
            assert!(TlogProof::parse(c.as_bytes()).is_err(), "{c:?}");
        }
        assert!(TlogProof::parse(&vec![b'a'; MAX_PROOF_TEXT + 1]).is_err());
        let long = TlogProof {
            extra: None,
            index: 0,
            proof: vec![[0; 32]; 64],
            checkpoint: CP.to_vec(),
        };
        assert!(TlogProof::parse(&long.to_text()).is_err());
    }
}
