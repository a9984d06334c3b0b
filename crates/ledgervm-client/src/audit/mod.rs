//! The auditor: download a log, check it against its signed checkpoint with no trust in
//! the server, and re-execute every call to find the first place the host lied.
//!
//! 1. Fetch the checkpoint and verify its signature with the given key.
//! 2. Fetch every entry bundle and hash tile of that tree (tlog-tiles paths), recompute
//!    the root from the entries and compare; check every hash tile against the hashes
//!    recomputed from the entries. When the root does not match, the hash tiles,
//!    authenticated against the signed root, name the first entry whose bytes changed.
//! 3. Decode every record (resolving blob pointers, checking blob hashes).
//! 4. Replay every call in log order ([`replay`]) and compare outcome, fuel, output,
//!    write set and transcript with the record.
//!
//! The report names the first divergence by entry index. A load record whose engine
//! fingerprint differs from the local engine is reported as such and its calls are
//! skipped, never reported as mismatches.
//!
//! ```no_run
//! # async fn run() -> Result<(), ledgervm_client::ClientError> {
//! use ledgervm_client::audit::{audit, AuditOptions, AuditTarget};
//! let report = audit(&AuditTarget::from("./ledgervm-data"), "localhost/ledgervm+...", &AuditOptions::default()).await?;
//! match &report.first_divergence {
//!     None => println!("clean: {} entries, {} calls replayed", report.size, report.calls_replayed),
//!     Some(d) => println!("entry {}: {} differs", d.index, d.what),
//! }
//! # Ok(()) }
//! ```

mod callers;
mod replay;
mod source;

pub use source::AuditTarget;

use crate::error::ClientError;
use crate::verify::{LogKey, open_checkpoint};
use indicatif::{ProgressBar, ProgressStyle};
use ledgervm_log::merkle::{
    Hash, leaf_hash, root_from_leaf_hashes, stored_hash_index, stored_hashes_for_record_hash,
};
use ledgervm_log::tile::{
    HASH_SIZE, TILE_HEIGHT, TILE_WIDTH, Tile, TileError, TileHashReader, decode_entry_bundle,
    read_tile_data, tile_in_tree,
};
use ledgervm_node::record::Record;
use ledgervm_runtime::{EngineFingerprint, Runtime, RuntimeConfig};
use serde::Serialize;
use source::Source;
use std::collections::HashMap;
use std::time::Instant;

/// How to audit.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// Show a progress bar (calls/s) on stderr.
    pub progress: bool,
    /// Re-execute calls (off: check the tree and records only).
    pub replay: bool,
    /// Engine settings for the replay; must match the server's to replay its calls.
    pub runtime: RuntimeConfig,
    /// Keys of private apps (matched by key id): their calls replay only with the key.
    pub keys: Vec<ledgervm_node::secret::AppKey>,
}

impl Default for AuditOptions {
    fn default() -> AuditOptions {
        AuditOptions {
            progress: false,
            replay: true,
            runtime: RuntimeConfig::default(),
            keys: Vec::new(),
        }
    }
}

/// What differed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DivergenceKind {
    /// An entry bundle or tile the tree needs is missing.
    Missing,
    /// An entry bundle is malformed (bad length prefix, too few entries).
    Bundle,
    /// The entry's bytes are not the ones the signed tree commits to.
    Entry,
    /// The tree does not match its signed root and no single entry could be named.
    Tree,
    /// A hash tile disagrees with the hashes recomputed from the entries.
    Tile,
    /// The entry is not a valid canonical record.
    Decode,
    /// A blob (module or large record) is missing or does not match its hash.
    Blob,
    /// Entry 0 is not this log's config record.
    Config,
    /// A record refers to an app that is not loaded (or another version of it).
    App,
    /// The module's exports or kind differ from its load record.
    Exports,
    /// The call's results or error differ.
    Outcome,
    /// Fuel consumed differs.
    Fuel,
    /// Captured stdout differs.
    Stdout,
    /// Captured stderr differs.
    Stderr,
    /// The state writes differ.
    WriteSet,
    /// The oracle answers consumed differ from those recorded.
    Transcript,
    /// A stored caller signature does not verify, or a caller id has no proof.
    CallerAuth,
    /// The state digest a call record carries does not follow from the write sets.
    StateDigest,
    /// A private call's payload does not open under the app's key (given to the audit).
    Sealed,
}

impl std::fmt::Display for DivergenceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

/// The first place the log and reality part ways.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// Entry index.
    pub index: u64,
    /// What differed.
    pub what: DivergenceKind,
    /// What the log (or the signed tree) says.
    pub expected: String,
    /// What the audit found.
    pub got: String,
}

/// A load record made by another engine: its calls are not replayed here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EngineMismatch {
    /// Index of the `app.load` record.
    pub load_index: u64,
    /// App name.
    pub app: String,
    /// The engine the record names.
    pub recorded: EngineFingerprint,
    /// The local engine.
    pub local: EngineFingerprint,
}

/// The audit's findings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditReport {
    /// Tree size of the audited checkpoint.
    pub size: u64,
    /// Its root hash, lowercase hex.
    pub root: String,
    /// Entries verified against the signed root (all of them when clean).
    pub verified_entries: u64,
    /// Hash tiles checked.
    pub tiles_checked: u64,
    /// Calls re-executed.
    pub calls_replayed: u64,
    /// Calls not re-executed because their app was loaded by another engine.
    pub calls_skipped: u64,
    /// Calls of private apps not re-executed because the audit was not given the key:
    /// their records verify in the tree, but they are not replayed.
    pub private_skipped: u64,
    /// Loads made by another engine.
    pub engine_mismatches: Vec<EngineMismatch>,
    /// The first divergence, by entry index; `None` when the audit is clean.
    pub first_divergence: Option<Divergence>,
    /// Seconds spent replaying.
    pub replay_seconds: f64,
    /// Calls, loads and unloads whose stored Ed25519 signature verified.
    pub signed_requests: u64,
    /// Calls by `--debug` user ids, recorded as unauthenticated (not proof of anything).
    pub unauthenticated_calls: u64,
}

impl AuditReport {
    /// No divergence, every entry verified, every call replayed.
    pub fn is_clean(&self) -> bool {
        self.first_divergence.is_none()
            && self.verified_entries == self.size
            && self.calls_skipped == 0
            && self.private_skipped == 0
    }

    /// Replay throughput.
    pub fn calls_per_second(&self) -> f64 {
        if self.replay_seconds > 0.0 {
            self.calls_replayed as f64 / self.replay_seconds
        } else {
            0.0
        }
    }
}

fn keep_first(slot: &mut Option<Divergence>, d: Divergence) {
    if slot.as_ref().is_none_or(|s| d.index < s.index) {
        *slot = Some(d);
    }
}

/// Every tile of the tree of `n` leaves, lowest level first.
fn tiles_of(n: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    for level in 0..=ledgervm_log::tile::MAX_TILE_LEVEL {
        let mut k = 0;
        while let Some(t) = tile_in_tree(level, k, n) {
            out.push(t);
            k += 1;
        }
        if k == 0 {
            break;
        }
    }
    out
}

/// Fetches tiles (or bundles), in order; up to 16 at a time from a server.
async fn fetch_tiles(
    source: &Source,
    tiles: &[Tile],
    entries: bool,
) -> Result<Vec<Option<Vec<u8>>>, ClientError> {
    if let Source::Local(_) = source {
        let mut out = Vec::with_capacity(tiles.len());
        for t in tiles {
            out.push(source.tile(t, entries).await?);
        }
        return Ok(out);
    }
    let mut out = vec![None; tiles.len()];
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < tiles.len() || !set.is_empty() {
        while next < tiles.len() && set.len() < 16 {
            let (s, t, i) = (source.clone(), tiles[next], next);
            set.spawn(async move { (i, s.tile(&t, entries).await) });
            next += 1;
        }
        if let Some(r) = set.join_next().await {
            let (i, got) = r.map_err(|e| ClientError::Audit(format!("fetch task failed: {e}")))?;
            out[i] = got?;
        }
    }
    Ok(out)
}

/// Entries of the tree of `n` leaves, as far as the bundles allow, with the first
/// problem met.
async fn fetch_entries(
    source: &Source,
    n: u64,
) -> Result<(Vec<Vec<u8>>, Option<Divergence>), ClientError> {
    let bundles: Vec<Tile> = (0..n.div_ceil(TILE_WIDTH as u64))
        .filter_map(|k| tile_in_tree(0, k, n))
        .collect();
    let data = fetch_tiles(source, &bundles, true).await?;
    let mut entries = Vec::with_capacity(n as usize);
    for (t, d) in bundles.iter().zip(data) {
        let first = t.index * TILE_WIDTH as u64;
        let problem = |what, got: String| Divergence {
            index: first,
            what,
            expected: t.entries_path(),
            got,
        };
        let Some(d) = d else {
            return Ok((
                entries,
                Some(problem(DivergenceKind::Missing, "not found".into())),
            ));
        };
        let mut got = match decode_entry_bundle(&d) {
            Ok(g) => g,
            Err(e) => {
                return Ok((
                    entries,
                    Some(problem(DivergenceKind::Bundle, e.to_string())),
                ));
            }
        };
        if got.len() < t.width as usize {
            let mut p = problem(
                DivergenceKind::Bundle,
                format!("{} entries, need {}", got.len(), t.width),
            );
            p.index += got.len() as u64;
            entries.extend(got);
            return Ok((entries, Some(p)));
        }
        got.truncate(t.width as usize);
        entries.extend(got);
    }
    Ok((entries, None))
}

/// When the entries do not hash to the signed root: authenticate the level-0 hash tiles
/// against the root and name the first entry whose leaf hash differs.
fn locate_bad_entry(
    n: u64,
    root: Hash,
    leaves: &[Hash],
    tiles: &HashMap<Tile, Vec<u8>>,
) -> Divergence {
    let source = |t: &Tile| {
        tiles
            .get(t)
            .cloned()
            .ok_or_else(|| TileError::Source(format!("tile {t} not available").into()))
    };
    let reader = TileHashReader::new(n, root, source);
    let per = TILE_WIDTH as u64;
    for k in 0..(leaves.len() as u64).div_ceil(per) {
        let range = k * per..((k + 1) * per).min(n);
        let indexes: Vec<u64> = range.clone().map(|i| stored_hash_index(0, i)).collect();
        match reader.read_hashes_checked(&indexes) {
            Err(e) => {
                return Divergence {
                    index: k * per,
                    what: DivergenceKind::Tree,
                    expected: "hash tiles that authenticate against the signed root".into(),
                    got: e.to_string(),
                };
            }
            Ok(hashes) => {
                for (i, h) in range.zip(hashes) {
                    if let Some(leaf) = leaves.get(i as usize)
                        && *leaf != h
                    {
                        return Divergence {
                            index: i,
                            what: DivergenceKind::Entry,
                            expected: hex::encode(h),
                            got: hex::encode(leaf),
                        };
                    }
                }
            }
        }
    }
    Divergence {
        index: leaves.len() as u64,
        what: DivergenceKind::Tree,
        expected: format!("{} entries hashing to the signed root", n),
        got: format!("{} entries", leaves.len()),
    }
}

/// Compares every downloaded hash tile with the tiles recomputed from verified leaves.
fn check_tiles(
    leaves: &[Hash],
    tiles: &[Tile],
    data: &HashMap<Tile, Vec<u8>>,
) -> Result<Option<Divergence>, ClientError> {
    let mut stored: Vec<Hash> = Vec::with_capacity(leaves.len() * 2);
    for (i, leaf) in leaves.iter().enumerate() {
        let h = stored_hashes_for_record_hash(i as u64, *leaf, &stored)
            .map_err(|e| ClientError::Audit(e.to_string()))?;
        stored.extend(h);
    }
    for t in tiles {
        let want = read_tile_data(t, &stored).map_err(|e| ClientError::Audit(e.to_string()))?;
        let first_leaf = |j: usize| {
            (t.index * TILE_WIDTH as u64 + j as u64) << (TILE_HEIGHT as u32 * t.level as u32)
        };
        let Some(got) = data.get(t) else {
            return Ok(Some(Divergence {
                index: first_leaf(0),
                what: DivergenceKind::Missing,
                expected: t.path(),
                got: "not found".into(),
            }));
        };
        let got = &got[..got.len().min(want.len())];
        if got != want.as_slice() {
            let j = (0..t.width as usize)
                .find(|&j| {
                    got.get(j * HASH_SIZE..(j + 1) * HASH_SIZE)
                        != Some(&want[j * HASH_SIZE..(j + 1) * HASH_SIZE])
                })
                .unwrap_or(0);
            let expected = format!(
                "{} hash #{j} = {}",
                t.path(),
                hex::encode(&want[j * HASH_SIZE..(j + 1) * HASH_SIZE])
            );
            let got = got
                .get(j * HASH_SIZE..(j + 1) * HASH_SIZE)
                .map_or("missing".into(), hex::encode);
            return Ok(Some(Divergence {
                index: first_leaf(j),
                what: DivergenceKind::Tile,
                expected,
                got,
            }));
        }
    }
    Ok(None)
}

/// Decodes entries `0..limit` into records (blob pointers resolved); stops at the first
/// entry that does not decode.
async fn decode_records(
    source: &Source,
    key: &LogKey,
    entries: &[Vec<u8>],
) -> Result<(Vec<Record>, Option<Divergence>), ClientError> {
    let mut records = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let index = i as u64;
        let fail = |what, expected: &str, got: String| Divergence {
            index,
            what,
            expected: expected.to_string(),
            got,
        };
        let record = match Record::decode(entry) {
            Ok(r) => r,
            Err(e) => {
                return Ok((
                    records,
                    Some(fail(
                        DivergenceKind::Decode,
                        "a canonical v2 record",
                        e.to_string(),
                    )),
                ));
            }
        };
        let record = match &record {
            Record::Blob(p) => {
                let blob = source.blob(&p.sha256).await?;
                let blob = blob.map(String::from_utf8);
                let resolved = match &blob {
                    None => {
                        return Ok((
                            records,
                            Some(fail(DivergenceKind::Blob, &p.sha256, "not found".into())),
                        ));
                    }
                    Some(Err(_)) => {
                        return Ok((
                            records,
                            Some(fail(DivergenceKind::Blob, &p.sha256, "not UTF-8".into())),
                        ));
                    }
                    Some(Ok(b)) => ledgervm_node::receipt::resolve(record.clone(), Some(b)),
                };
                match resolved {
                    Ok(r) => r,
                    Err(e) => {
                        return Ok((
                            records,
                            Some(fail(DivergenceKind::Blob, &p.sha256, e.to_string())),
                        ));
                    }
                }
            }
            _ => record,
        };
        if index == 0 {
            let ok = matches!(&record, Record::Config(c) if c.vkey == key.vkey() && c.origin == key.origin());
            if !ok {
                let expected = format!("config record naming {}", key.vkey());
                return Ok((
                    records,
                    Some(fail(
                        DivergenceKind::Config,
                        &expected,
                        String::from_utf8_lossy(entry).into_owned(),
                    )),
                ));
            }
        }
        records.push(record);
    }
    Ok((records, None))
}

/// Audits the log at `target`, whose checkpoints `vkey` signs.
pub async fn audit(
    target: &AuditTarget,
    vkey: &str,
    opts: &AuditOptions,
) -> Result<AuditReport, ClientError> {
    let key = LogKey::parse(vkey)?;
    let source = Source::open(target, vkey)?;
    let note = source.checkpoint().await?;
    let cp = open_checkpoint(&note, &key)?.checkpoint;
    let n = cp.size;
    let mut first: Option<Divergence> = None;

    let tiles = tiles_of(n);
    let tile_data: HashMap<Tile, Vec<u8>> = tiles
        .iter()
        .copied()
        .zip(fetch_tiles(&source, &tiles, false).await?)
        .filter_map(|(t, d)| {
            d.map(|mut d| {
                d.truncate(t.width as usize * HASH_SIZE);
                (t, d)
            })
        })
        .collect();
    let (mut entries, bundle_problem) = fetch_entries(&source, n).await?;
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let mut tiles_checked = 0;
    if entries.len() as u64 == n && root_from_leaf_hashes(&leaves) == cp.root_hash {
        if let Some(d) = check_tiles(&leaves, &tiles, &tile_data)? {
            keep_first(&mut first, d);
        }
        tiles_checked = tiles.len() as u64;
    } else {
        let d = locate_bad_entry(n, cp.root_hash, &leaves, &tile_data);
        entries.truncate(d.index as usize);
        keep_first(&mut first, d);
        if let Some(b) = bundle_problem {
            keep_first(&mut first, b);
        }
    }
    let verified_entries = entries.len() as u64;

    let (records, decode_problem) = decode_records(&source, &key, &entries).await?;
    if let Some(d) = decode_problem {
        keep_first(&mut first, d);
    }
    drop(entries);

    let mut report = AuditReport {
        size: n,
        root: hex::encode(cp.root_hash),
        verified_entries,
        tiles_checked,
        calls_replayed: 0,
        calls_skipped: 0,
        private_skipped: 0,
        engine_mismatches: Vec::new(),
        first_divergence: None,
        replay_seconds: 0.0,
        signed_requests: 0,
        unauthenticated_calls: 0,
    };
    if opts.replay {
        let runtime = Runtime::new(opts.runtime.clone())
            .map_err(|e| ClientError::Audit(format!("engine: {e}")))?;
        let calls = records
            .iter()
            .filter(|r| matches!(r, Record::Call(_) | Record::PrivateCall(_)))
            .count() as u64;
        let bar = if opts.progress {
            ProgressBar::new(calls)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("replay {bar:40} {pos}/{len} calls  {per_sec}  eta {eta}")
                .expect("static template"),
        );
        let mut replayer = replay::Replayer::new(
            runtime,
            &source,
            bar.clone(),
            key.origin().to_string(),
            &opts.keys,
        );
        replayer.first = first.take();
        let start = Instant::now();
        for (i, record) in records.into_iter().enumerate() {
            // Nothing after the first divergence matters (state may differ from there).
            if replayer.first.as_ref().is_some_and(|d| d.index <= i as u64) {
                break;
            }
            replayer.step(i as u64, record).await?;
        }
        replayer.finish().await?;
        bar.finish_and_clear();
        first = replayer.first.take();
        // A state digest mismatch at the same index as a replay divergence is its
        // consequence: the replay's finding names the cause.
        if let Some(d) = replayer.digest_first.take() {
            keep_first(&mut first, d);
        }
        report.replay_seconds = start.elapsed().as_secs_f64();
        report.calls_replayed = replayer.calls_replayed;
        report.calls_skipped = replayer.calls_skipped;
        report.signed_requests = replayer.signed_requests;
        report.unauthenticated_calls = replayer.unauthenticated_calls;
        report.private_skipped = replayer.private_skipped;
        report.engine_mismatches = replayer.engine_mismatches;
    }
    report.first_divergence = first;
    Ok(report)
}

#[cfg(test)]
mod tests;
