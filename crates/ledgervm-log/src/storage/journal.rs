//! The write-ahead journal's record format. Pure: encoding and decoding only.
//!
//! One record per committed batch:
//!
//! ```text
//! "LVJ1" | payload_len: u32 LE | payload | CRC-32("LVJ1" | len | payload): u32 LE
//! payload = op_count: u32 | op* | checkpoint_len: u32 | checkpoint
//! op      = 0x00 | path | data_len: u32 | data                        (put)
//!         | 0x01 | path | base | base_len: u32 | suffix_len: u32 | suffix  (extend)
//! path, base = len: u16 | UTF-8 bytes
//! ```
//!
//! An *extend* op says "the object at `path` is the first `base_len` bytes of the object
//! at `base`, followed by `suffix`". Partial tiles and entry bundles grow by appending, so
//! this keeps a batch's record close to the size of its new entries instead of rewriting
//! up to 64 KiB of bundle per batch. The checksum catches a torn tail: records are only
//! ever appended and the file is only ever truncated to zero, so the first bad frame is
//! where the last (unacknowledged) write was cut off. CRC-32 (as in PostgreSQL's WAL)
//! rather than SHA-256: it only has to catch accidents, it detects every single-bit error,
//! and on CPUs without SHA extensions it is ~20× cheaper on the commit path.

const MAGIC: &[u8; 4] = b"LVJ1";
const SUM_LEN: usize = 4;
const HEADER_LEN: usize = 8;

/// One journal operation, borrowing its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    /// The object at `path` is `data`.
    Put { path: &'a str, data: &'a [u8] },
    /// The object at `path` is `base[..base_len]` followed by `suffix`.
    Extend {
        path: &'a str,
        base: &'a str,
        base_len: u32,
        suffix: &'a [u8],
    },
}

/// One decoded record: the ops of a batch and the checkpoint it committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub ops: Vec<Op<'a>>,
    pub checkpoint: &'a [u8],
}

/// The result of scanning a journal buffer.
#[derive(Debug)]
pub(crate) struct Scan<'a> {
    /// The complete, checksummed records, in order.
    pub records: Vec<Record<'a>>,
    /// Bytes after the last good record (a torn, never-acknowledged write).
    pub torn_bytes: usize,
}

/// Errors decoding a record whose checksum is good (so not a torn write: corruption or a
/// bug).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JournalError {
    #[error("record at offset {offset} is malformed: {reason}")]
    Malformed { offset: usize, reason: &'static str },
}

/// Appends the encoded record for `ops` and `checkpoint` to `out`.
pub(crate) fn encode(ops: &[Op<'_>], checkpoint: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for op in ops {
        match op {
            Op::Put { path, data } => {
                out.push(0);
                put_str(out, path);
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(data);
            }
            Op::Extend {
                path,
                base,
                base_len,
                suffix,
            } => {
                out.push(1);
                put_str(out, path);
                put_str(out, base);
                out.extend_from_slice(&base_len.to_le_bytes());
                out.extend_from_slice(&(suffix.len() as u32).to_le_bytes());
                out.extend_from_slice(suffix);
            }
        }
    }
    out.extend_from_slice(&(checkpoint.len() as u32).to_le_bytes());
    out.extend_from_slice(checkpoint);
    let payload_len = (out.len() - start - HEADER_LEN) as u32;
    out[start + 4..start + 8].copy_from_slice(&payload_len.to_le_bytes());
    let sum = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&sum.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Paths are validated to at most 512 bytes before they reach the journal.
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Decodes every complete record in `buf`, stopping at the first torn or unchecksummed
/// frame.
pub(crate) fn scan(buf: &[u8]) -> Result<Scan<'_>, JournalError> {
    let mut records = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        if rest.len() < HEADER_LEN || &rest[..4] != MAGIC {
            break;
        }
        let len = u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize;
        let Some(total) = len.checked_add(HEADER_LEN + SUM_LEN) else {
            break;
        };
        if rest.len() < total {
            break;
        }
        let body = &rest[..HEADER_LEN + len];
        if crc32fast::hash(body).to_le_bytes()[..] != rest[HEADER_LEN + len..total] {
            break;
        }
        records.push(decode_payload(&body[HEADER_LEN..], off)?);
        off += total;
    }
    Ok(Scan {
        records,
        torn_bytes: buf.len() - off,
    })
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
    record_offset: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, reason: &'static str) -> JournalError {
        JournalError::Malformed {
            offset: self.record_offset,
            reason,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], JournalError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or_else(|| self.err("length overflow"))?;
        let s = self
            .buf
            .get(self.at..end)
            .ok_or_else(|| self.err("truncated payload"))?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, JournalError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, JournalError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, JournalError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn str(&mut self) -> Result<&'a str, JournalError> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| self.err("path is not UTF-8"))
    }
}

fn decode_payload(payload: &[u8], record_offset: usize) -> Result<Record<'_>, JournalError> {
    let mut c = Cursor {
        buf: payload,
        at: 0,
        record_offset,
    };
    let count = c.u32()? as usize;
    // Every op takes at least 7 bytes, which bounds the allocation by the payload size.
    if count > payload.len() / 7 {
        return Err(c.err("op count exceeds payload"));
    }
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        let op = match c.u8()? {
            0 => {
                let path = c.str()?;
                let n = c.u32()? as usize;
                Op::Put {
                    path,
                    data: c.take(n)?,
                }
            }
            1 => {
                let path = c.str()?;
                let base = c.str()?;
                let base_len = c.u32()?;
                let n = c.u32()? as usize;
                Op::Extend {
                    path,
                    base,
                    base_len,
                    suffix: c.take(n)?,
                }
            }
            _ => return Err(c.err("unknown op tag")),
        };
        ops.push(op);
    }
    let n = c.u32()? as usize;
    let checkpoint = c.take(n)?;
    if c.at != payload.len() {
        return Err(c.err("trailing bytes in payload"));
    }
    Ok(Record { ops, checkpoint })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let mut buf = Vec::new();
        encode(
            &[
                Op::Put {
                    path: "tile/0/000",
                    data: &[1, 2, 3],
                },
                Op::Extend {
                    path: "tile/entries/000.p/2",
                    base: "tile/entries/000.p/1",
                    base_len: 5,
                    suffix: b"xy",
                },
            ],
            b"cp-1",
            &mut buf,
        );
        encode(&[], b"cp-2", &mut buf);
        buf
    }

    #[test]
    fn roundtrip() {
        let buf = sample();
        let scan = scan(&buf).unwrap();
        assert_eq!(scan.torn_bytes, 0);
        assert_eq!(scan.records.len(), 2);
        assert_eq!(scan.records[0].checkpoint, b"cp-1");
        assert_eq!(
            scan.records[0].ops[1],
            Op::Extend {
                path: "tile/entries/000.p/2",
                base: "tile/entries/000.p/1",
                base_len: 5,
                suffix: b"xy"
            }
        );
        assert!(scan.records[1].ops.is_empty());
        assert_eq!(scan.records[1].checkpoint, b"cp-2");
    }

    #[test]
    fn every_truncation_keeps_only_whole_records() {
        let buf = sample();
        let first_len = {
            let mut one = Vec::new();
            encode(
                &[
                    Op::Put {
                        path: "tile/0/000",
                        data: &[1, 2, 3],
                    },
                    Op::Extend {
                        path: "tile/entries/000.p/2",
                        base: "tile/entries/000.p/1",
                        base_len: 5,
                        suffix: b"xy",
                    },
                ],
                b"cp-1",
                &mut one,
            );
            one.len()
        };
        for cut in 0..buf.len() {
            let s = scan(&buf[..cut]).unwrap();
            let want = usize::from(cut >= first_len);
            assert_eq!(s.records.len(), want, "cut {cut}");
            assert_eq!(s.torn_bytes, cut - if want == 1 { first_len } else { 0 });
        }
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let buf = sample();
        for i in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[i / 8] ^= 1 << (i % 8);
            // A flip never yields a different decoded record: it either stops the scan
            // there (torn) or, if it hit the second record, keeps only the first.
            let s = scan(&b).unwrap();
            assert!(s.records.len() < 2, "flip at bit {i} went unnoticed");
            if let Some(r) = s.records.first() {
                assert_eq!(r.checkpoint, b"cp-1");
            }
        }
    }

    #[test]
    fn checksummed_garbage_is_corruption_not_a_tear() {
        // A frame whose checksum is right but whose payload is nonsense.
        let mut frame = Vec::from(&MAGIC[..]);
        let payload = [9u8, 0, 0, 0, 0xff];
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&payload);
        let sum = crc32fast::hash(&frame);
        frame.extend_from_slice(&sum.to_le_bytes());
        assert!(matches!(
            scan(&frame),
            Err(JournalError::Malformed { offset: 0, .. })
        ));
    }

    proptest! {
        #[test]
        fn prop_roundtrip(
            recs in proptest::collection::vec(
                (proptest::collection::vec(
                    (any::<bool>(), "[a-z0-9/.]{1,20}", proptest::collection::vec(any::<u8>(), 0..64), any::<u32>()),
                    0..5),
                 proptest::collection::vec(any::<u8>(), 0..40)),
                0..4),
            junk in proptest::collection::vec(any::<u8>(), 0..30),
        ) {
            let mut buf = Vec::new();
            for (ops, cp) in &recs {
                let ops: Vec<Op<'_>> = ops.iter().map(|(ext, p, d, n)| if *ext {
                    Op::Extend { path: p, base: p, base_len: *n, suffix: d }
                } else {
                    Op::Put { path: p, data: d }
                }).collect();
                encode(&ops, cp, &mut buf);
            }
            let clean = buf.len();
            buf.extend_from_slice(&junk);
            let s = scan(&buf).unwrap();
            prop_assert_eq!(s.records.len(), recs.len());
            prop_assert_eq!(s.torn_bytes, buf.len() - clean);
            for (r, (ops, cp)) in s.records.iter().zip(&recs) {
                prop_assert_eq!(r.checkpoint, &cp[..]);
                prop_assert_eq!(r.ops.len(), ops.len());
            }
        }
    }
}
