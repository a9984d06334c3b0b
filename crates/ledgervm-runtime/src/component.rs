//! WASI 0.2 components: load, introspect, and call in a fresh instance per call.
//!
//! # Exports
//! Callable exports are the component's top-level functions (named as exported, e.g.
//! `hello`) and the functions of its exported interface instances, named
//! `<interface>#<func>` (e.g. `my:pkg/api#get`), with full WIT types via
//! [`FuncType::from_component`]. Functions whose types the value codec cannot carry
//! (resources, streams, futures) are skipped.
//!
//! # What a component can import
//! * `wasi:random/*`, `wasi:clocks/*` — answered by the call's oracles (recorded live,
//!   replayed from the transcript).
//! * `wasi:cli/*` — stdout/stderr captured with the call's output cap, empty stdin, no
//!   arguments and no environment; `exit` ends the call with a trap.
//! * `wasi:filesystem/*` — linked but with no preopened directory, so nothing to open.
//! * `wasi:sockets/*` — linked but denied (`allow_tcp(false)`, `allow_udp(false)`,
//!   `allow_ip_name_lookup(false)`).
//! * `wasi:io/*`, `wasi:http/types` — wasmtime-wasi's and wasmtime-wasi-http's.
//! * `wasi:http/outgoing-handler` — ours ([`crate::http`]): https only, egress policy on the
//!   resolved address, each exchange one oracle answer.
//! * `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` — the app's state
//!   ([`crate::keyvalue`]).
//! * `ledgervm:host/caller@0.1.0` — `id: func() -> option<string>`, the caller's id
//!   (`wit/deps/ledgervm-host`).
//!
//! Fuel, memory, table and output limits and the deadline are applied exactly as for core
//! modules ([`crate::exec::CallEnv`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use ledgervm_runtime::component::{load_component, ComponentOptions};
//! use ledgervm_runtime::{CallRequest, Runtime, RuntimeConfig, state, value::Value};
//! let rt = Runtime::new(RuntimeConfig::default()).unwrap();
//! let wat = r#"(component
//!     (core module $m (func (export "f") (param i32) (result i32)
//!         (i32.mul (local.get 0) (i32.const 6))))
//!     (core instance $i (instantiate $m))
//!     (func (export "times-six") (param "n" u32) (result u32) (canon lift (core func $i "f"))))"#;
//! let app = load_component(&rt, wat.as_bytes(), ComponentOptions::default()).unwrap();
//! assert_eq!(app.exports()[0].0, "times-six");
//! let out = app
//!     .call(CallRequest::live("times-six", vec![Value::U32(7)]), state::shared(state::MemoryState::new()))
//!     .await;
//! assert_eq!(out.result, Ok(vec![Value::U32(42)]));
//! # });
//! ```

use crate::Runtime;
use crate::app::{CallOutcome, CallRequest, Guest, LoadedApp};
use crate::error::{CallError, LoadError};
use crate::exec::{CallEnv, CallLimiter, Stage};
use crate::http::{EgressConfig, EgressCtx, EgressView};
use crate::keyvalue::{self, KvView};
use crate::limits::Limits;
use crate::oracle::Oracles;
use crate::random::RandomHost;
use crate::state::SharedState;
use crate::value::{FuncType, Value};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::Store;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, ComponentExportIndex, InstancePre, Linker, ResourceTable, Val,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// The instance name of the caller-identity interface.
pub const CALLER_INTERFACE: &str = "ledgervm:host/caller@0.1.0";

/// Per-app options for components.
#[derive(Clone, Debug, Default)]
pub struct ComponentOptions {
    /// Egress policy, TLS roots, timeouts and caps for `wasi:http`. The default refuses
    /// every non-public address and trusts Mozilla's roots.
    pub egress: Arc<EgressConfig>,
}

/// Store data of a component call.
pub struct ComponentHost {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: NoDirectSend,
    limiter: CallLimiter,
    oracles: Oracles,
    egress: Arc<EgressConfig>,
    deadline_at: Instant,
    state: SharedState,
    caller_id: Option<String>,
}

impl RandomHost for ComponentHost {
    fn oracles(&self) -> &Oracles {
        &self.oracles
    }
}

impl WasiView for ComponentHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl EgressView for ComponentHost {
    fn egress(&mut self) -> EgressCtx<'_> {
        EgressCtx {
            table: &mut self.table,
            oracles: &self.oracles,
            config: &self.egress,
            deadline_at: self.deadline_at,
        }
    }
}

/// wasmtime-wasi-http hooks with its built-in sender disabled. Our outgoing-handler
/// replaces the only caller of `send_request`; this makes sure that, should a future
/// wasmtime route a request here, it is refused rather than sent around the policy.
struct NoDirectSend;

impl WasiHttpHooks for NoDirectSend {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// The linker every component is linked with.
fn build_linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<ComponentHost>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    crate::random::shadow_component(&mut linker)?;
    crate::http::add_to_linker(&mut linker)?;
    keyvalue::add_to_linker(&mut linker, |h: &mut ComponentHost| KvView {
        table: &mut h.table,
        state: &h.state,
    })?;
    linker.instance(CALLER_INTERFACE)?.func_wrap(
        "id",
        |store: wasmtime::StoreContextMut<'_, ComponentHost>, (): ()| {
            Ok((store.data().caller_id.clone(),))
        },
    )?;
    Ok(linker)
}

/// One callable export: its name, type and where to find it in an instance.
struct Export {
    name: String,
    ty: FuncType,
    index: ComponentExportIndex,
}

/// Lists the callable exports of `component`: top-level functions, then functions of
/// exported instances as `iface#func`, in export order.
fn introspect(engine: &wasmtime::Engine, component: &Component) -> Result<Vec<Export>, LoadError> {
    let mut out = Vec::new();
    let index = |inst: Option<&ComponentExportIndex>, name: &str| {
        component
            .get_export_index(inst, name)
            .ok_or_else(|| LoadError::ExportType(format!("export {name} has no index")))
    };
    let ty = component.component_type();
    for (name, ext) in ty.exports(engine) {
        match &ext.ty {
            ComponentItem::ComponentFunc(f) => match FuncType::from_component(f) {
                Ok(t) => out.push(Export {
                    name: name.to_string(),
                    ty: t,
                    index: index(None, name)?,
                }),
                Err(e) => tracing::debug!(export = name, "skipping export: {e}"),
            },
            ComponentItem::ComponentInstance(inst) => {
                let inst_index = index(None, name)?;
                for (fname, fext) in inst.exports(engine) {
                    let ComponentItem::ComponentFunc(f) = &fext.ty else {
                        continue;
                    };
                    let full = format!("{name}#{fname}");
                    match FuncType::from_component(f) {
                        Ok(t) => out.push(Export {
                            ty: t,
                            index: index(Some(&inst_index), fname)?,
                            name: full,
                        }),
                        Err(e) => tracing::debug!(export = full, "skipping export: {e}"),
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

pub(crate) struct ComponentApp {
    runtime: Runtime,
    pre: InstancePre<ComponentHost>,
    exports: Vec<Export>,
    egress: Arc<EgressConfig>,
}

/// Loads a component from a wasm binary or WAT text with `opts`: compiles (through the
/// runtime's cache), links, pre-instantiates and introspects exports.
pub fn load_component(
    rt: &Runtime,
    bytes: &[u8],
    opts: ComponentOptions,
) -> Result<LoadedApp, LoadError> {
    let wasm = crate::app::to_binary(bytes)?;
    if !crate::app::is_component(&wasm) {
        return Err(LoadError::Unsupported(
            "not a component (use Runtime::load for core modules)".into(),
        ));
    }
    let hash = crate::app::code_hash(&wasm);
    load(rt, &wasm, hash, opts)
}

/// Loads a component binary whose SHA-256 is `code_hash` (for [`Runtime::load`]).
pub fn load(
    rt: &Runtime,
    wasm: &[u8],
    code_hash: String,
    opts: ComponentOptions,
) -> Result<LoadedApp, LoadError> {
    let component = rt.compile_component(wasm)?;
    let exports = introspect(rt.engine(), &component)?;
    let linker = build_linker(rt.engine()).map_err(|e| LoadError::Link(format!("{e:#}")))?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(|e| LoadError::Link(format!("{e:#}")))?;
    let listed = exports
        .iter()
        .map(|e| (e.name.clone(), e.ty.clone()))
        .collect();
    let app = ComponentApp {
        runtime: rt.clone(),
        pre,
        exports,
        egress: opts.egress,
    };
    Ok(LoadedApp::new(
        rt.clone(),
        code_hash,
        listed,
        Guest::Component(Arc::new(app)),
    ))
}

impl ComponentApp {
    /// Runs `req.func` in a fresh instance ([`LoadedApp::call`] has checked the
    /// arguments and resolved the limits).
    pub(crate) async fn call(
        &self,
        req: CallRequest,
        limits: Limits,
        state: SharedState,
    ) -> CallOutcome {
        let deadline_at = Instant::now() + limits.deadline;
        let env = CallEnv::new(&self.runtime, &req, limits, state.clone());
        let Some(export) = self.exports.iter().find(|e| e.name == req.func) else {
            return env.refuse(CallError::NoSuchFunction {
                name: req.func.clone(),
            });
        };
        if req.args.len() != export.ty.params.len() {
            return env.refuse(CallError::BadArguments {
                message: format!(
                    "{} takes {} arguments, got {}",
                    req.func,
                    export.ty.params.len(),
                    req.args.len()
                ),
            });
        }
        let params = match req
            .args
            .iter()
            .zip(&export.ty.params)
            .map(|(v, p)| v.to_component_as(&p.ty))
            .collect::<Result<Vec<Val>, _>>()
        {
            Ok(p) => p,
            Err(e) => {
                return env.refuse(CallError::BadArguments {
                    message: e.to_string(),
                });
            }
        };
        let host = ComponentHost {
            wasi: env.wasi_builder().build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: NoDirectSend,
            limiter: env.limiter(),
            oracles: env.oracles.clone(),
            egress: self.egress.clone(),
            deadline_at,
            state,
            caller_id: env.caller.id.clone(),
        };
        let store = Store::new(self.runtime.engine(), host);
        let n_results = export.ty.results.len();
        env.execute(
            store,
            |h: &mut ComponentHost| &mut h.limiter,
            async |store| self.run(store, &export.index, &params, n_results).await,
            Value::from_component,
        )
        .await
    }

    async fn run(
        &self,
        store: &mut Store<ComponentHost>,
        index: &ComponentExportIndex,
        params: &[Val],
        n_results: usize,
    ) -> Result<Vec<Val>, (wasmtime::Error, Stage)> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(|e| (e, Stage::Instantiate))?;
        let run_err = |e| (e, Stage::Run);
        let func = instance
            .get_func(&mut *store, *index)
            .ok_or_else(|| run_err(wasmtime::format_err!("export vanished")))?;
        let mut results = vec![Val::Bool(false); n_results];
        func.call_async(&mut *store, params, &mut results)
            .await
            .map_err(run_err)?;
        Ok(results)
    }
}
