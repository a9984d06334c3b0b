//! WASI Preview 1 core modules: command (`_start`) or reactor (`_initialize`) modules,
//! linked against wasmtime-wasi's p1 (no filesystem, environment, arguments or sockets;
//! capped stdout/stderr; oracle random and clocks) and the `ledgervm` import module.
//!
//! Every call gets a fresh instance from the `InstancePre` built at load. A command
//! module's `_start` runs first in each instance (as the immudb demo does with TinyGo
//! output), and `proc_exit(0)` from it is success; a reactor's `_initialize` runs first
//! instead. Fuel covers both the initializer and the export.

use crate::Runtime;
use crate::app::{CallRequest, Guest, LoadedApp};
use crate::error::{CallError, LoadError};
use crate::exec::{CallEnv, CallLimiter, Stage, WasiSetup};
use crate::guest_abi::{self, AbiHost};
use crate::limits::Limits;
use crate::oracle::Oracles;
use crate::random::RandomHost;
use crate::state::SharedState;
use crate::value::{FuncType, Value};
use std::sync::Arc;
use wasmtime::{Engine, ExternType, InstancePre, Linker, ModuleExport, Store, Val};
use wasmtime_wasi::p1::WasiP1Ctx;

/// Store data of a core-module call.
pub struct CoreHost {
    /// Built on the guest's first WASI call ([`CoreHost::wasi`]). Building it does not
    /// consult an oracle, so when it happens cannot change a transcript. Boxed: the
    /// context is ~400 bytes, three quarters of the store data, which every call moves
    /// into its store whether or not the guest uses WASI.
    wasi: Option<Box<WasiP1Ctx>>,
    wasi_setup: WasiSetup,
    limiter: CallLimiter,
    oracles: Oracles,
    caller_id: Option<String>,
    state: SharedState,
}

impl CoreHost {
    fn wasi(&mut self) -> &mut WasiP1Ctx {
        let setup = &self.wasi_setup;
        self.wasi
            .get_or_insert_with(|| Box::new(setup.builder().build_p1()))
    }
}

impl RandomHost for CoreHost {
    fn oracles(&self) -> &Oracles {
        &self.oracles
    }
}

impl AbiHost for CoreHost {
    fn caller_id(&self) -> Option<&str> {
        self.caller_id.as_deref()
    }

    fn state(&self) -> &SharedState {
        &self.state
    }
}

/// The linker every core module is linked with (built once per runtime).
pub(crate) fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<CoreHost>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, CoreHost::wasi)?;
    crate::random::shadow_core(&mut linker)?;
    guest_abi::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// What runs before the export in each fresh instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Init {
    Start,
    Initialize,
    Nothing,
}

pub(crate) struct CoreApp {
    runtime: Runtime,
    pre: InstancePre<CoreHost>,
    init: Init,
    /// Callable exports resolved once at load: the index lookup and the result count
    /// (asking wasmtime for a function's type builds a `FuncType` on every call).
    callable: std::collections::HashMap<String, (ModuleExport, usize)>,
}

/// Loads a core module (binary) whose SHA-256 is `code_hash`.
pub(crate) fn load(rt: &Runtime, wasm: &[u8], code_hash: String) -> Result<LoadedApp, LoadError> {
    let module = rt.compile_module(wasm)?;
    let mut exports = Vec::new();
    let mut callable = std::collections::HashMap::new();
    let mut init = Init::Nothing;
    for e in module.exports() {
        let ExternType::Func(ft) = e.ty() else {
            continue;
        };
        match e.name() {
            "_start" if ft.params().len() == 0 && ft.results().len() == 0 => init = Init::Start,
            "_initialize" if ft.params().len() == 0 && ft.results().len() == 0 => {
                if init == Init::Nothing {
                    init = Init::Initialize;
                }
            }
            name => match FuncType::from_core(&ft) {
                Ok(t) => {
                    if let Some(index) = module.get_export_index(name) {
                        callable.insert(name.to_string(), (index, ft.results().len()));
                    }
                    exports.push((name.to_string(), t))
                }
                // v128 / reference parameters cannot be passed as typed values: such
                // exports are not callable, which is all the caller needs to know.
                Err(err) => tracing::debug!(export = name, "skipping export: {err}"),
            },
        }
    }
    let pre = rt
        .core_linker()
        .instantiate_pre(&module)
        .map_err(|e| LoadError::Link(format!("{e:#}")))?;
    let app = CoreApp {
        runtime: rt.clone(),
        pre,
        init,
        callable,
    };
    Ok(LoadedApp::new(
        rt.clone(),
        code_hash,
        exports,
        Guest::Core(Arc::new(app)),
    ))
}

impl CoreApp {
    /// Runs `req.func` in a fresh instance ([`LoadedApp::call`] has found the export,
    /// checked the arguments and resolved the limits).
    pub(crate) async fn call(
        &self,
        req: CallRequest,
        limits: Limits,
        state: SharedState,
    ) -> crate::CallOutcome {
        let env = CallEnv::new(&self.runtime, &req, limits, state.clone());
        let params = match req
            .args
            .iter()
            .map(Value::to_core)
            .collect::<Result<Vec<Val>, _>>()
        {
            Ok(p) => p,
            Err(e) => {
                return env.refuse(CallError::BadArguments {
                    message: e.to_string(),
                });
            }
        };
        let host = CoreHost {
            wasi: None,
            wasi_setup: env.wasi_setup(),
            limiter: env.limiter(),
            oracles: env.oracles.clone(),
            caller_id: env.caller.id.clone(),
            state,
        };
        let store = Store::new(self.runtime.engine(), host);
        env.execute(
            store,
            |h: &mut CoreHost| &mut h.limiter,
            async |store| self.run(store, &req.func, &params).await,
            Value::from_core,
        )
        .await
    }

    async fn run(
        &self,
        store: &mut Store<CoreHost>,
        func: &str,
        params: &[Val],
    ) -> Result<Vec<Val>, (wasmtime::Error, Stage)> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(|e| (e, Stage::Instantiate))?;
        let run_err = |e| (e, Stage::Run);
        match self.init {
            Init::Start => {
                let start = instance
                    .get_typed_func::<(), ()>(&mut *store, "_start")
                    .map_err(run_err)?;
                if let Err(e) = start.call_async(&mut *store, ()).await {
                    // TinyGo-style commands exit(0) at the end of main: that is success.
                    match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                        Some(exit) if exit.0 == 0 => {}
                        _ => return Err(run_err(e)),
                    }
                }
            }
            Init::Initialize => {
                let init = instance
                    .get_typed_func::<(), ()>(&mut *store, "_initialize")
                    .map_err(run_err)?;
                init.call_async(&mut *store, ()).await.map_err(run_err)?;
            }
            Init::Nothing => {}
        }
        let vanished = || run_err(wasmtime::format_err!("export {func} vanished"));
        let (index, n) = self.callable.get(func).ok_or_else(vanished)?;
        let f = instance
            .get_module_export(&mut *store, index)
            .and_then(|e| e.into_func())
            .ok_or_else(vanished)?;
        let mut results = vec![Val::I32(0); *n];
        f.call_async(&mut *store, params, &mut results)
            .await
            .map_err(run_err)?;
        Ok(results)
    }
}
