#!/usr/bin/env python3
"""Checks a ledgervm-log data directory and its proofs with third-party verifiers.

Usage: check_log.py <dump-dir>

<dump-dir> holds what crates/ledgervm-log/tests/interop_python.rs writes:
  log/         the log's data directory (C2SP tlog-tiles layout, served as static files)
  vkey         the log's verifier key (C2SP signed-note vkey string)
  proofs.json  {"size", "roots": {size: hex}, "entries": [hex],
                "inclusion": [{"index", "size", "proof": [hex]}],
                "consistency": [{"old", "new", "proof": [hex]}]}

Checks, all with tlog-scales (PyPI, independent of our code) unless noted:
  * the checkpoint verifies with the vkey (Checkpoint.verify);
  * tlog-scales' own tile reader recomputes the checkpoint root from our tiles, reads
    every entry back from our bundles, and derives the same proofs we served;
  * every inclusion proof checks (InclusionProof.check), and also with sigstore's
    Rekor verifier (sigstore._internal.merkle.verify_merkle_inclusion);
  * every consistency proof checks (ConsistencyProof.check);
  * every file sits at a path tlog_scales.tiles.tile_path gives, and every tile the
    checkpoint needs exists;
  * tampered proofs are rejected (so the checks above are not vacuous).
Exits non-zero on the first failure.
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from sigstore._internal.merkle import verify_merkle_inclusion
from tlog_scales import tiles
from tlog_scales.backend import LocalBackend
from tlog_scales.reader import TilesReader
from tlog_scales.signing import Vkey
from tlog_scales.tlog import (
    Checkpoint,
    ConsistencyProof,
    ConsistencyProofInvalid,
    InclusionProof,
    InclusionProofInvalid,
)


def fail(msg: str) -> None:
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def parse_tile_path(parts: list[str]) -> tuple[int, int, int] | None:
    """Inverse of tiles.tile_path for the paths it can produce; None if not one."""
    if len(parts) < 3 or parts[0] != "tile":
        return None
    if parts[1] == "entries":
        level = -1
    elif parts[1].isdigit():
        level = int(parts[1])
    else:
        return None
    rest = parts[2:]
    partial = 0
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        if not rest[-1].isdigit():
            return None
        partial = int(rest[-1])
        rest = rest[:-2] + [rest[-2][:-2]]
    n = 0
    for g in rest:
        g = g.removeprefix("x")
        if len(g) != 3 or not g.isdigit():
            return None
        n = n * 1000 + int(g)
    return level, n, partial


def check_paths(log_dir: Path, size: int) -> int:
    count = 0
    for f in sorted(log_dir.rglob("*")):
        rel = f.relative_to(log_dir)
        if f.is_dir() or any(p.startswith(".") for p in rel.parts):
            continue  # the backend's private files (.journal, .lock)
        if rel.parts == ("checkpoint",):
            continue
        coords = parse_tile_path(list(rel.parts))
        if coords is None:
            fail(f"{rel} is not a tlog-tiles path")
        if tiles.tile_path(*coords) != list(rel.parts):
            fail(f"{rel} is not where tile_path{coords} puts it: {tiles.tile_path(*coords)}")
        count += 1
    # Every tile the checkpoint needs is present (full tiles and the current partials).
    levels = [-1]
    while tiles.level_entries(size, len(levels) - 1) > 0:
        levels.append(len(levels) - 1)
    for level in levels:
        full, partial = tiles.level_tiles(size, level)
        for n in range(full):
            if not log_dir.joinpath(*tiles.tile_path(level, n)).is_file():
                fail(f"missing full tile L={level} N={n}")
        if partial and not log_dir.joinpath(*tiles.tile_path(level, full, partial)).is_file():
            fail(f"missing partial tile L={level} N={full} W={partial}")
    return count


def sigstore_inclusion(index: int, size: int, proof: list[bytes], root: bytes, entry: bytes) -> None:
    # verify_merkle_inclusion reads these attributes of a Rekor TransparencyLogEntry.
    fake = SimpleNamespace(
        _inner=SimpleNamespace(
            inclusion_proof=SimpleNamespace(
                log_index=index, tree_size=size, hashes=proof, root_hash=root
            ),
            canonicalized_body=entry,
        )
    )
    verify_merkle_inclusion(fake)


def main() -> None:
    dump = Path(sys.argv[1])
    log_dir = dump / "log"
    vkey = Vkey.from_string((dump / "vkey").read_text().strip())
    data = json.loads((dump / "proofs.json").read_text())
    h = bytes.fromhex

    cp = Checkpoint.from_text((log_dir / "checkpoint").read_text())
    cp.verify(vkey)
    size = data["size"]
    roots = {int(k): h(v) for k, v in data["roots"].items()}
    if cp.size != size or cp.root_hash != roots[size]:
        fail(f"checkpoint says size {cp.size}, dump says {size}")

    reader = TilesReader(LocalBackend(log_dir))
    reader.get_checkpoint()
    if reader.calculate_root_hash() != cp.root_hash:
        fail("tlog-scales recomputes a different root from our tiles")
    entries = [h(e) for e in data["entries"]]
    if len(entries) != size:
        fail("entry count differs from the checkpoint size")
    for i, e in enumerate(entries):
        if reader.get_entry(i) != e:
            fail(f"entry {i} read back by tlog-scales differs")
    for s, r in roots.items():
        reader.set_size(size)
        if s and reader.mth(0, s) != r:
            fail(f"tlog-scales computes a different root for size {s}")

    n_incl = 0
    for p in data["inclusion"]:
        i, s = p["index"], p["size"]
        proof = [h(x) for x in p["proof"]]
        leaf = tiles.leaf_hash(entries[i])
        InclusionProof(i, s, proof).check(leaf, roots[s])
        sigstore_inclusion(i, s, proof, roots[s], entries[i])
        if reader.get_inclusion_proof(i, s).node_hashes != proof:
            fail(f"tlog-scales derives a different inclusion proof for {i}@{s}")
        n_incl += 1

    n_cons = 0
    for p in data["consistency"]:
        old, new = p["old"], p["new"]
        proof = [h(x) for x in p["proof"]]
        ConsistencyProof(old, new, proof).check(roots[old], roots[new])
        if 0 < old and reader.get_consistency_proof(old, new).node_hashes != proof:
            fail(f"tlog-scales derives a different consistency proof for {old}->{new}")
        n_cons += 1

    # Tampering must be caught, or the checks above prove nothing.
    p = next(x for x in data["inclusion"] if x["proof"])
    bad = [h(x) for x in p["proof"]]
    bad[0] = bytes([bad[0][0] ^ 1]) + bad[0][1:]
    try:
        InclusionProof(p["index"], p["size"], bad).check(tiles.leaf_hash(entries[p["index"]]), roots[p["size"]])
        fail("a tampered inclusion proof was accepted")
    except InclusionProofInvalid:
        pass
    p = next(x for x in data["consistency"] if x["proof"] and 0 < x["old"] < x["new"])
    bad = [h(x) for x in p["proof"]]
    bad[-1] = bytes([bad[-1][0] ^ 1]) + bad[-1][1:]
    try:
        ConsistencyProof(p["old"], p["new"], bad).check(roots[p["old"]], roots[p["new"]])
        fail("a tampered consistency proof was accepted")
    except ConsistencyProofInvalid:
        pass

    n_files = check_paths(log_dir, size)
    print(
        f"ok: checkpoint size {size} verified; {n_incl} inclusion proofs (tlog-scales + sigstore); "
        f"{n_cons} consistency proofs; {len(roots)} roots; {n_files} tile files at tile_path paths"
    )


if __name__ == "__main__":
    main()
