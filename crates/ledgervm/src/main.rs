//! The `ledgervm` command line: a thin binary over the library crates. Each subcommand
//! lives in `cmd/`; all of them report errors with context through `anyhow`.

mod cmd;

// mimalloc, not glibc malloc: a durable call allocates and frees across threads (HTTP
// worker, sequencer, blocking pool), and glibc spent ~20% of `ledgervm bench`'s CPU in
// malloc/free/consolidation. Same-run A/B in docs/BENCHMARKS.md ("mimalloc"): about a
// third less CPU per call.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Run WebAssembly apps so that nobody has to trust the machine that runs them.
///
/// Every app load and every call is a leaf of a signed, append-only Merkle log. Callers
/// get receipts that verify offline; anyone can audit the log by replaying it.
///
/// Start here:
///   ledgervm demo                     serve https://127.0.0.1:8080 with the sample apps
///   ledgervm deploy sum.wasm          load an app (named after the file)
///   ledgervm call sum.wasm Sum 5 7    call it; prints the result, saves the receipt
///   ledgervm verify                   audit the whole log by replaying it
#[derive(Parser, Debug)]
#[command(name = "ledgervm", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a command finds the server.
#[derive(clap::Args, Debug, Clone)]
pub struct Remote {
    /// Server base URL.
    #[arg(
        long,
        short = 's',
        global = true,
        env = "LEDGERVM_SERVER",
        default_value = "https://127.0.0.1:8080"
    )]
    pub server: String,
    /// The log's verifier key, as `ledgervm serve` prints it. Without it the key is
    /// pinned on first use (trust on first use) and any later change is refused.
    #[arg(long, global = true, env = "LEDGERVM_VKEY")]
    pub vkey: Option<String>,
    /// Directory of trusted checkpoints (default: the user's config dir).
    #[arg(long, global = true, env = "LEDGERVM_TRUST_DIR")]
    pub trust_dir: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Sign calls, loads and unloads with this caller key (made by `ledgervm keygen`).
    #[arg(long, global = true, env = "LEDGERVM_KEY")]
    pub key: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server over TLS: the HTTP API, the tlog-tiles read paths, the demo route,
    /// WebSocket JSON-RPC, and (with --frame-listen) Enclave OS's framed protocol.
    Serve(cmd::serve::ServeArgs),
    /// Run the server with the sample apps loaded, and print URLs to try.
    Demo(cmd::serve::ServeArgs),
    /// Load an app from a .wasm (or .wat) file; the app is named after the file.
    Deploy(cmd::remote::DeployArgs),
    /// Call an export; plain arguments are parsed against the export's parameter types.
    Call(cmd::remote::CallArgs),
    /// List loaded apps, or show one.
    Apps(cmd::remote::AppsArgs),
    /// Unload an app (its history stays in the log).
    Unload(cmd::remote::UnloadArgs),
    /// Read the log: `log tail` or `log show N`.
    Log(cmd::remote::LogArgs),
    /// Read app state: `kv get APP KEY`, verified through the writing record's receipt.
    Kv(cmd::kv::KvArgs),
    /// Audit a log: check every entry against the signed tree and replay every call.
    Verify(cmd::verify::VerifyArgs),
    /// Receipts: `receipt verify FILE --vkey ...` checks one offline.
    Receipt(cmd::verify::ReceiptArgs),
    /// Make an Ed25519 caller key for signing calls, loads and unloads (`--key FILE`).
    Keygen(cmd::keygen::KeygenArgs),
    /// Interactive JSON-RPC session with one app over the WebSocket API (`.help`).
    Repl(cmd::repl::ReplArgs),
    /// Measure the hot path: in-process calls, durable HTTP calls, latency, audit replay.
    Bench(cmd::bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEDGERVM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.command {
            Command::Serve(a) => cmd::serve::serve(a, false).await,
            Command::Demo(a) => cmd::serve::serve(a, true).await,
            Command::Deploy(a) => cmd::remote::deploy(a).await,
            Command::Call(a) => cmd::remote::call(a).await,
            Command::Apps(a) => cmd::remote::apps(a).await,
            Command::Unload(a) => cmd::remote::unload(a).await,
            Command::Log(a) => cmd::remote::log(a).await,
            Command::Kv(a) => cmd::kv::kv(a).await,
            Command::Verify(a) => cmd::verify::verify(a).await,
            Command::Receipt(a) => cmd::verify::receipt(a),
            Command::Keygen(a) => cmd::keygen::keygen(a),
            Command::Bench(a) => cmd::bench::bench(a).await,
            Command::Repl(a) => cmd::repl::repl(a).await,
        }
    })
}
