# Sourced by the scripts: one persistent target directory outside the clone, so CI and
# every checkout reuse the (slow) wasmtime build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ledgervm-target}"
export LEDGERVM_VENV="${LEDGERVM_VENV:-$CARGO_TARGET_DIR/venv}"
export LEDGERVM_PYTHON="${LEDGERVM_PYTHON:-$LEDGERVM_VENV/bin/python}"
export LEDGERVM_GUESTS_DIR="${LEDGERVM_GUESTS_DIR:-$(pwd)/guests/out}"
