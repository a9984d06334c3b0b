# Sourced by the scripts. Intermediate build artifacts (the slow wasmtime build) live in
# one persistent build dir outside the clone, shared by CI and every checkout; final
# binaries go to this checkout's own target/, so two checkouts never run each other's
# `ledgervm` binary.
export CARGO_BUILD_BUILD_DIR="${CARGO_BUILD_BUILD_DIR:-$HOME/.cache/ledgervm-target}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
export LEDGERVM_VENV="${LEDGERVM_VENV:-$HOME/.cache/ledgervm-target/venv}"
export LEDGERVM_PYTHON="${LEDGERVM_PYTHON:-$LEDGERVM_VENV/bin/python}"
export LEDGERVM_GUESTS_DIR="${LEDGERVM_GUESTS_DIR:-$(pwd)/guests/out}"
