# Sourced by the scripts. Each checkout gets its own Cargo *build dir* (intermediate
# artifacts, the slow wasmtime build) under ~/.cache/ledgervm-target, keyed by the
# checkout's path, and its own target/ for final binaries.
#
# Why not one build dir shared by every checkout: Cargo hashes workspace crates by their
# path *relative to the workspace*, so two checkouts of this repo produce the same
# artifact names, and a source file's mtime is compared against whichever checkout built
# last — one checkout then silently links the other's code. A new build dir is seeded by
# copying the newest existing one minus our own crates' fingerprints, so dependencies
# (wasmtime) stay warm and our crates always rebuild from this checkout.
_lvm_base="$HOME/.cache/ledgervm-target"
_lvm_key=$(printf %s "$(pwd -P)" | sha256sum | cut -c1-12)
export CARGO_BUILD_BUILD_DIR="${CARGO_BUILD_BUILD_DIR:-$_lvm_base/build-$_lvm_key}"
if [ ! -d "$CARGO_BUILD_BUILD_DIR" ]; then
  _lvm_seed=$(ls -dt "$_lvm_base"/build-* 2>/dev/null | head -1)
  if [ -n "$_lvm_seed" ]; then
    echo "seeding $CARGO_BUILD_BUILD_DIR from $_lvm_seed" >&2
    mkdir -p "$_lvm_base"
    # Files a concurrent build deletes mid-copy are skipped; fingerprints cover the rest.
    cp -a --reflink=auto "$_lvm_seed" "$CARGO_BUILD_BUILD_DIR.tmp.$$" 2>/dev/null || true
    rm -rf "$CARGO_BUILD_BUILD_DIR.tmp.$$"/*/.fingerprint/ledgervm-* \
      "$CARGO_BUILD_BUILD_DIR.tmp.$$"/*/incremental
    mv "$CARGO_BUILD_BUILD_DIR.tmp.$$" "$CARGO_BUILD_BUILD_DIR"
  fi
fi
unset _lvm_key _lvm_seed
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
export LEDGERVM_VENV="${LEDGERVM_VENV:-$_lvm_base/venv}"
export LEDGERVM_PYTHON="${LEDGERVM_PYTHON:-$LEDGERVM_VENV/bin/python}"
export LEDGERVM_GUESTS_DIR="${LEDGERVM_GUESTS_DIR:-$(pwd)/guests/out}"
unset _lvm_base
