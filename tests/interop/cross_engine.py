#!/usr/bin/env python3
"""Cross-engine check: run core-module calls through the PyPI `wasmtime` package (a second,
independently packaged engine build) and print what happened, so the Rust test
`crates/ledgervm-runtime/tests/cross_engine.rs` can compare it bit-for-bit with
ledgervm-runtime.

Input (stdin), JSON:
    {"max_wasm_stack": 524288,
     "cases": [{"module": "/path/sum.wasm", "func": "Sum",
                "args": [["i32", 5], ["i32", 7]], "fuel": 10000000}, ...]}
  Argument kinds: "i32", "i64" (signed integers), "f32bits", "f64bits" (IEEE bits as
  unsigned integers; only non-NaN floats survive Python's float conversion exactly).

Output (stdout), JSON: one entry per case, in order:
    {"ok": [["i32", 12]], "fuel_consumed": 123}
    {"error": "integer_division_by_zero", "fuel_consumed": 45}
  Results: "i32"/"i64" signed; "f32bits"/"f64bits" unsigned bit patterns. Error codes use
  ledgervm's vocabulary: wasmtime's trap name in snake_case, plus "out_of_fuel",
  "stack_overflow" and "exit" (non-zero proc_exit).

The call protocol mirrors ledgervm's: a fresh store and instance per call, `_start` first
for commands (proc_exit(0) is success), else `_initialize` for reactors, then the export;
fuel covers all of it. The engine configuration mirrors ledgervm's deterministic one.
"""

import json
import struct
import sys

import wasmtime


def engine(max_wasm_stack):
    cfg = wasmtime.Config()
    cfg.cranelift_nan_canonicalization = True
    cfg.wasm_relaxed_simd_deterministic = True
    cfg.wasm_threads = False
    cfg.consume_fuel = True
    cfg.max_wasm_stack = max_wasm_stack
    return wasmtime.Engine(cfg)


# wasmtime's Rust trap names (what ledgervm reports, snake_cased) for the C API's codes.
TRAP_NAMES = {
    wasmtime.TrapCode.UNREACHABLE: "unreachable_code_reached",
    wasmtime.TrapCode.OUT_OF_FUEL: "out_of_fuel",
    wasmtime.TrapCode.STACK_OVERFLOW: "stack_overflow",
}


def trap_name(code):
    if code in TRAP_NAMES:
        return TRAP_NAMES[code]
    return code.name.lower()


def to_val(kind, v):
    if kind == "i32":
        return wasmtime.Val.i32(v)
    if kind == "i64":
        return wasmtime.Val.i64(v)
    if kind == "f32bits":
        return wasmtime.Val.f32(struct.unpack("<f", struct.pack("<I", v))[0])
    if kind == "f64bits":
        return wasmtime.Val.f64(struct.unpack("<d", struct.pack("<Q", v))[0])
    raise ValueError(f"unknown argument kind {kind}")


def from_result(ty, v):
    if ty == wasmtime.ValType.i32():
        return ["i32", v]
    if ty == wasmtime.ValType.i64():
        return ["i64", v]
    if ty == wasmtime.ValType.f32():
        return ["f32bits", struct.unpack("<I", struct.pack("<f", v))[0]]
    if ty == wasmtime.ValType.f64():
        return ["f64bits", struct.unpack("<Q", struct.pack("<d", v))[0]]
    raise ValueError(f"unsupported result type {ty}")


def load_module(eng, path):
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"\0asm"):
        data = data.decode("utf-8")  # WAT text
    return wasmtime.Module(eng, data)


def run_case(eng, modules, case):
    path = case["module"]
    if path not in modules:
        modules[path] = load_module(eng, path)
    module = modules[path]
    store = wasmtime.Store(eng)
    store.set_wasi(wasmtime.WasiConfig())  # no args, env, preopens; stdio discarded
    fuel = case["fuel"]
    store.set_fuel(fuel)
    linker = wasmtime.Linker(eng)
    linker.define_wasi()

    def consumed():
        return fuel - store.get_fuel()

    try:
        instance = linker.instantiate(store, module)
        exports = instance.exports(store)
        names = [e.name for e in module.exports]
        if "_start" in names:
            try:
                exports["_start"](store)
            except wasmtime.ExitTrap as e:
                if e.code != 0:
                    return {"error": "exit", "fuel_consumed": consumed()}
        elif "_initialize" in names:
            exports["_initialize"](store)
        func = exports[case["func"]]
        ty = func.type(store)
        args = [to_val(k, v) for k, v in case["args"]]
        out = func(store, *args)
        results = ty.results
        if len(results) == 0:
            vals = []
        elif len(results) == 1:
            vals = [from_result(results[0], out)]
        else:
            vals = [from_result(t, v) for t, v in zip(results, out)]
        return {"ok": vals, "fuel_consumed": consumed()}
    except wasmtime.ExitTrap as e:
        return {"error": "exit", "fuel_consumed": consumed()}
    except wasmtime.Trap as e:
        code = e.trap_code
        return {
            "error": trap_name(code) if code is not None else "host",
            "fuel_consumed": consumed(),
        }


def main():
    req = json.load(sys.stdin)
    eng = engine(req.get("max_wasm_stack", 512 * 1024))
    modules = {}
    out = [run_case(eng, modules, c) for c in req["cases"]]
    json.dump({"engine": "wasmtime-py " + wasmtime.__version__ if hasattr(wasmtime, "__version__") else "wasmtime-py",
               "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
