"""Cross-engine check for WASI 0.2 components: runs component exports under the PyPI
`wasmtime` package (a second embedding of the engine, through its C API) and prints the
results as ledgervm's typed JSON values, plus the fuel each call consumed, so the Rust
test (crates/ledgervm-runtime/tests/component_cross_engine.rs) can require the same
answers from ledgervm-runtime.

Input (stdin, JSON):
  {"component": "<path>", "fuel": N,
   "calls": [{"func": "hello" | "iface#func", "args": [{"type": "u32", "value": 5}, ...]}]}
Output (stdout, JSON): [{"result": [typed values] | {"error": KIND}, "fuel_consumed": N}]
with KIND "out_of_fuel", "trap" or "not_offered" (the export called wasi:keyvalue).

The components are linked with wasmtime's own WASIp2 and wasi:http; wasi:keyvalue is
defined with functions that trap (this engine has no ledgervm state) and
ledgervm:host/caller answers "anonymous", so only exports that touch neither state nor
oracles are compared.
"""
import json
import sys

import wasmtime
from wasmtime import component as cm

# Component result type class name -> ledgervm typed-value type name.
SCALARS = {
    "Bool": "bool", "U8": "u8", "U16": "u16", "U32": "u32", "U64": "u64",
    "S8": "s8", "S16": "s16", "S32": "s32", "S64": "s64", "Char": "char",
    "String": "string",
}


INTS = {"u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64"}


def typed(ty, value):
    name = type(ty).__name__
    if name not in SCALARS:
        raise SystemExit(f"result type {name} is not covered by this check")
    return {"type": SCALARS[name], "value": value}


KEYVALUE_STORE = "wasi:keyvalue/store@0.2.0-draft"
KEYVALUE_FUNCS = ["open"] + [
    f"[method]bucket.{m}" for m in ("get", "set", "delete", "exists", "list-keys")
]


class NotOffered(Exception):
    pass


def not_offered(*_args):
    raise NotOffered("wasi:keyvalue is not offered by the cross-engine check")


def add_keyvalue_traps(linker, component, engine):
    if KEYVALUE_STORE not in component.type.imports(engine):
        return
    with linker.root() as root:
        with root.add_instance(KEYVALUE_STORE) as inst:
            inst.add_resource("bucket", cm.ResourceType.host(1), lambda _store, _rep: None)
            for name in KEYVALUE_FUNCS:
                inst.add_func(name, not_offered)


CALLER = "ledgervm:host/caller@0.1.0"


def add_anonymous_caller(linker, component, engine):
    """ledgervm:host/caller as ledgervm answers it for an anonymous call."""
    if CALLER not in component.type.imports(engine):
        return
    with linker.root() as root:
        with root.add_instance(CALLER) as inst:
            inst.add_func("id", lambda _store: None)


def lookup(store, instance, name):
    if "#" in name:
        iface, func = name.split("#", 1)
        outer = instance.get_export_index(store, iface)
        idx = instance.get_export_index(store, func, outer)
    else:
        idx = instance.get_export_index(store, name)
    return instance.get_func(store, idx)


def main():
    req = json.load(sys.stdin)
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.cranelift_nan_canonicalization = True
    cfg.wasm_relaxed_simd_deterministic = True
    cfg.wasm_threads = False
    cfg.wasm_component_model = True
    engine = wasmtime.Engine(cfg)
    component = cm.Component.from_file(engine, req["component"])
    linker = cm.Linker(engine)
    linker.add_wasip2()
    linker.add_wasi_http()
    add_keyvalue_traps(linker, component, engine)
    add_anonymous_caller(linker, component, engine)
    out = []
    for call in req["calls"]:
        # A fresh store and instance per call, as ledgervm does.
        store = wasmtime.Store(engine)
        store.set_wasi(wasmtime.WasiConfig())
        store.set_wasi_http()
        store.set_fuel(req["fuel"])
        instance = linker.instantiate(store, component)
        func = lookup(store, instance, call["func"])
        # 64-bit integers may come as decimal strings (JSON numbers lose precision).
        args = [
            int(a["value"]) if a["type"] in INTS and isinstance(a["value"], str) else a["value"]
            for a in call["args"]
        ]
        result_ty = func.type(store).result
        try:
            value = func(store, *args)
            result = [] if result_ty is None else [typed(result_ty, value)]
        except NotOffered:
            result = {"error": "not_offered"}
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            # ledgervm's CallError codes for the two stops this check covers.
            kind = "out_of_fuel" if "all fuel consumed" in str(e) else "trap"
            result = {"error": kind}
        out.append({"result": result, "fuel_consumed": req["fuel"] - store.get_fuel()})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
