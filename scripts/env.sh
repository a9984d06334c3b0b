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
  # A seed is 15-20 GB; copying it onto a nearly full disk once filled the disk and
  # left nothing able to run. Seed only with the copy's size plus 10 GB to spare;
  # otherwise build cold (about 5 minutes of wasmtime), which needs far less.
  if [ -n "$_lvm_seed" ]; then
    _lvm_need=$(( $(du -sk "$_lvm_seed" | cut -f1) + 10 * 1024 * 1024 ))
    _lvm_free=$(df -Pk "$_lvm_base" | awk 'NR==2 {print $4}')
    if [ "$_lvm_free" -lt "$_lvm_need" ]; then
      echo "not seeding from $_lvm_seed: ${_lvm_free} KiB free, ${_lvm_need} KiB needed" >&2
      _lvm_seed=
    fi
  fi
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
unset _lvm_key _lvm_seed _lvm_need _lvm_free
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
export LEDGERVM_VENV="${LEDGERVM_VENV:-$_lvm_base/venv}"
export LEDGERVM_PYTHON="${LEDGERVM_PYTHON:-$LEDGERVM_VENV/bin/python}"
export LEDGERVM_GUESTS_DIR="${LEDGERVM_GUESTS_DIR:-$(pwd)/guests/out}"
unset _lvm_base
