//! `ledgervm serve` and `ledgervm demo`.

use anyhow::Context;
use ledgervm_node::record::CallPolicy;
use ledgervm_node::{LoadRequest, Node, NodeOptions};
use ledgervm_runtime::http::EgressSettings;
use ledgervm_runtime::http::policy::AllowRule;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Arguments of `ledgervm serve` / `ledgervm demo`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory: the log (tlog-tiles), blobs, module cache and the log key.
    #[arg(
        long,
        short = 'd',
        env = "LEDGERVM_DATA",
        default_value = "./ledgervm-data"
    )]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(
        long,
        short = 'l',
        env = "LEDGERVM_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Log origin (the checkpoint's first line and the key's name) for a new log.
    #[arg(long, default_value = "localhost/ledgervm")]
    pub origin: String,
    /// Where `demo` finds the sample apps (built by scripts/build-guests).
    #[arg(long, env = "LEDGERVM_GUESTS_DIR", default_value = "guests/out")]
    pub guests: PathBuf,
    /// Let guests' outbound HTTPS reach a destination that is refused by default
    /// (loopback, private, link-local, CGNAT, unique-local and cloud-metadata
    /// addresses). Repeatable. RULE is an IP (`10.1.2.3`), an IP and port
    /// (`127.0.0.1:8443`, `[::1]:8443`), a host name as guests spell it in URLs
    /// (`db.internal`, `localhost:8443`), or a CIDR block, any port (`127.0.0.1/32`,
    /// `10.0.0.0/8`, `fd00::/8`). The check is on the resolved address.
    #[arg(long = "egress-allow", value_name = "RULE")]
    pub egress_allow: Vec<AllowRule>,
    /// PEM file of root CA certificates that guests' outbound HTTPS trusts in addition
    /// to Mozilla's roots (e.g. an internal CA). Repeatable; every certificate in the
    /// file is added.
    #[arg(long = "egress-ca", value_name = "FILE")]
    pub egress_ca: Vec<PathBuf>,
}

/// The egress settings the flags ask for: allow rules, and the roots read from each
/// `--egress-ca` file.
fn egress_settings(args: &ServeArgs) -> anyhow::Result<EgressSettings> {
    let mut egress = EgressSettings {
        allow: args.egress_allow.clone(),
        ..EgressSettings::default()
    };
    for path in &args.egress_ca {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading --egress-ca {}", path.display()))?;
        egress
            .add_pem_roots(&pem)
            .with_context(|| format!("--egress-ca {}", path.display()))?;
    }
    Ok(egress)
}

/// The sample apps `demo` loads: (app name, file in the guests dir).
const SAMPLES: &[(&str, &str)] = &[
    ("sum.wasm", "sum.wasm"),
    ("enclave-example", "enclave_example.wasm"),
];

/// Opens the node, optionally loads the samples, serves until Ctrl-C, then shuts down
/// gracefully (in-flight calls finish and are committed).
pub async fn serve(args: ServeArgs, demo: bool) -> anyhow::Result<()> {
    let mut opts = NodeOptions::new(&args.data);
    opts.origin = args.origin.clone();
    opts.runtime.egress = egress_settings(&args)?;
    let node = Node::open(opts)
        .await
        .with_context(|| format!("opening data directory {}", args.data.display()))?;
    if demo {
        load_samples(&node, &args.guests).await?;
    }
    let handle = ledgervm_server::serve(node.clone(), args.listen, Default::default())
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let base = format!("http://{}", handle.local_addr());
    println!("ledgervm serving {base}");
    println!("  data    {}", args.data.display());
    println!("  log     {} ({} entries)", node.origin(), node.size());
    println!("  vkey    {}", node.vkey());
    println!(
        "  engine  wasmtime {} / {}",
        node.engine().wasmtime_version,
        &node.engine().config_hash[..16]
    );
    let egress = &node.runtime().config().egress;
    if !egress.allow.is_empty() || !egress.extra_roots.is_empty() {
        let rules: Vec<String> = egress.allow.iter().map(ToString::to_string).collect();
        println!(
            "  egress  allow [{}], {} extra root CA(s)",
            rules.join(", "),
            egress.extra_roots.len()
        );
    }
    if demo {
        println!("\nTry:");
        println!("  curl '{base}/immutable/sum.wasm?func=Sum&a=5&b=7'");
        println!(
            "  curl -X POST {base}/v1/apps/enclave-example/calls/hello -H 'content-type: application/json' -d '{{\"args\":[]}}'"
        );
        println!(
            "  curl -X POST {base}/v1/apps/enclave-example/calls/get-random -H 'content-type: application/json' -d '{{\"args\":[]}}'"
        );
        println!(
            "  ledgervm call sum.wasm Sum 5 7 --server {base} --vkey '{}'",
            node.vkey()
        );
        println!("  ledgervm verify --server {base} --vkey '{}'", node.vkey());
        println!("  curl {base}/log/checkpoint");
    }
    println!("\nCtrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("shutting down: finishing in-flight calls");
    handle.shutdown().await.context("graceful shutdown")?;
    Ok(())
}

/// Loads each sample app unless the same code is already loaded under its name, so
/// restarting the demo does not append a new load record every time.
async fn load_samples(node: &Node, dir: &std::path::Path) -> anyhow::Result<()> {
    for (name, file) in SAMPLES {
        let path = dir.join(file);
        let module = std::fs::read(&path).with_context(|| {
            format!(
                "reading sample app {} (build it with scripts/build-guests)",
                path.display()
            )
        })?;
        let hash = ledgervm_node::ids::sha256_hex(&module);
        if node.app(name).is_some_and(|a| a.code_hash == hash) {
            continue;
        }
        let info = node
            .load(LoadRequest {
                name: name.to_string(),
                module,
                limits: None,
                policy: CallPolicy::Anonymous,
            })
            .await
            .with_context(|| format!("loading sample app {name}"))?;
        println!(
            "loaded {name} {} ({} exports) at index {}",
            info.code_hash,
            info.exports.len(),
            info.index
        );
    }
    Ok(())
}
