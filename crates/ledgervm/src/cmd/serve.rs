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
    /// Also serve Enclave OS's framed JSON protocol (TLS, 4-byte length prefix) here.
    #[arg(long, env = "LEDGERVM_FRAME_LISTEN")]
    pub frame_listen: Option<SocketAddr>,
    /// PEM certificate to issue the TLS certificates under (with --tls-key). Without
    /// it each certificate is self-signed. Either way every certificate carries the
    /// identity extension (docs/PROTOCOLS.md).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM (PKCS#8) private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where `demo` finds the sample apps (built by scripts/build-guests).
    #[arg(long, env = "LEDGERVM_GUESTS_DIR", default_value = "guests/out")]
    pub guests: PathBuf,
    /// The operator's Ed25519 public key (64 hex digits, as `ledgervm keygen` prints):
    /// may replace and unload any app; anonymous loads are then refused.
    #[arg(long, env = "LEDGERVM_ADMIN_KEY", value_name = "PUBKEY")]
    pub admin_key: Option<String>,
    /// Development only: accept plain user ids (`X-Ledgervm-User: alice`) without any
    /// authentication. Recorded as unauthenticated; every answer says so.
    #[arg(long)]
    pub debug: bool,
    /// How far a signed request's timestamp may be from this server's clock.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub max_skew_secs: u64,
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
    opts.auth = ledgervm_node::AuthOptions {
        admin_key: args.admin_key.clone(),
        debug: args.debug,
        max_skew: std::time::Duration::from_secs(args.max_skew_secs),
    };
    opts.runtime.egress = egress_settings(&args)?;
    let node = Node::open(opts)
        .await
        .with_context(|| format!("opening data directory {}", args.data.display()))?;
    if demo {
        load_samples(&node, &args.guests).await?;
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => ledgervm_server::TlsSettings::Operator {
            cert_pem: std::fs::read_to_string(c)
                .with_context(|| format!("reading {}", c.display()))?,
            key_pem: std::fs::read_to_string(k)
                .with_context(|| format!("reading {}", k.display()))?,
        },
        _ => ledgervm_server::TlsSettings::SelfSigned,
    };
    let opts = ledgervm_server::ServerOptions {
        tls: Some(tls),
        frame_listen: args.frame_listen,
        ..Default::default()
    };
    // Registered before the address is announced: whoever reads it and signals at once
    // (a supervisor, a test harness) must get the graceful stop, not the default
    // disposition that kills the process mid-commit.
    let mut stop = StopSignals::register()?;
    let handle = ledgervm_server::serve(node.clone(), args.listen, opts)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let base = handle.url();
    let identity = handle.identity().current();
    if args.debug {
        // Loud on purpose: this mode accepts identities nobody proved.
        let bar = "!".repeat(78);
        for line in [
            bar.as_str(),
            "!! DEBUG MODE: plain user ids (X-Ledgervm-User) are accepted WITHOUT any",
            "!! authentication. They are recorded as unauthenticated, and every answer",
            "!! carries an x-ledgervm-debug header. Never run this for real users.",
            bar.as_str(),
        ] {
            println!("{line}");
            eprintln!("{line}");
        }
    }
    println!("ledgervm serving {base}");
    if let Some(f) = handle.frame_addr() {
        println!("  frames  tls://{f}");
    }
    println!(
        "  ws      {}/v1/ws?app=NAME",
        base.replacen("https", "wss", 1)
    );
    println!(
        "  tls     identity {} in certificate extension {}",
        hex::encode(identity.digest),
        ledgervm_node::identity::IDENTITY_OID_STR
    );
    println!("  data    {}", args.data.display());
    println!("  log     {} ({} entries)", node.origin(), node.size());
    println!("  vkey    {}", node.vkey());
    match &args.admin_key {
        Some(k) => println!("  admin   {k}"),
        None => {
            println!("  admin   none (anyone may load; ownerless apps may be unloaded by anyone)")
        }
    }
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
        println!("\nTry (the certificate is self-signed: curl -k, or --cacert with --tls-cert):");
        println!("  curl -k '{base}/immutable/sum.wasm?func=Sum&a=5&b=7'");
        println!(
            "  curl -k -X POST {base}/v1/apps/enclave-example/calls/hello -H 'content-type: application/json' -d '{{\"args\":[]}}'"
        );
        println!(
            "  curl -k -X POST {base}/v1/apps/enclave-example/calls/get-random -H 'content-type: application/json' -d '{{\"args\":[]}}'"
        );
        println!(
            "  ledgervm call sum.wasm Sum 5 7 --server {base} --vkey '{}'",
            node.vkey()
        );
        println!("  ledgervm verify {base} --vkey '{}'", node.vkey());
        println!(
            "  ledgervm repl {base} --app sum.wasm --vkey '{}'",
            node.vkey()
        );
        println!("  curl -k {base}/log/checkpoint");
    }
    println!("\nCtrl-C to stop.");
    stop.wait().await;
    eprintln!("shutting down: finishing in-flight calls");
    handle.shutdown().await.context("graceful shutdown")?;
    // The files trail the journal by a writer round; leave a complete directory.
    node.close().await.context("writing the log's files")?;
    Ok(())
}

/// SIGINT (Ctrl-C) and SIGTERM, handled from the moment they are registered.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> anyhow::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
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
                encryption_key: None,
                private: false,
                max_keys: None,
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
