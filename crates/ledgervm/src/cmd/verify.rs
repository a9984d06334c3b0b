//! `ledgervm verify` (a full audit by replay) and `ledgervm receipt verify`.

use anyhow::{Context, bail};
use ledgervm_client::{AuditOptions, AuditTarget, audit, verify_receipt_file};
use std::path::PathBuf;

/// Arguments of `ledgervm verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// What to audit: a server URL (`https://127.0.0.1:8080`) or a data directory.
    #[arg(default_value = "https://127.0.0.1:8080")]
    pub target: String,
    /// The log's verifier key. For a data directory it defaults to the key in the
    /// directory's own `log.key` — which only proves the files agree with themselves;
    /// pass the key you were given to prove more.
    #[arg(long, env = "LEDGERVM_VKEY")]
    pub vkey: Option<String>,
    /// Check the tree and records only; do not re-execute calls.
    #[arg(long)]
    pub no_replay: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// A private app's key (64 hex characters), to replay its sealed calls; repeatable.
    /// Read from the environment so it stays out of shell history.
    #[arg(
        long = "app-key",
        env = "LEDGERVM_APP_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub app_keys: Vec<String>,
}

/// Audits and exits non-zero on any divergence.
pub async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let target = AuditTarget::from(a.target.as_str());
    let vkey = match (&a.vkey, &target) {
        (Some(v), _) => v.clone(),
        (None, AuditTarget::DataDir(dir)) => {
            let key = std::fs::read_to_string(dir.join("log.key")).with_context(|| {
                format!(
                    "no --vkey given and no {}/log.key to read it from",
                    dir.display()
                )
            })?;
            ledgervm_log::note::Signer::from_private_key(key.trim())
                .context("parsing log.key")?
                .verifier()
                .vkey()
        }
        (None, AuditTarget::Url(url)) => {
            bail!("pass --vkey (as `ledgervm serve` printed it) to audit {url}")
        }
    };
    let keys = a
        .app_keys
        .iter()
        .map(|k| ledgervm_node::secret::AppKey::from_hex(k))
        .collect::<Result<Vec<_>, _>>()
        .context("--app-key")?;
    let opts = AuditOptions {
        progress: !a.json,
        replay: !a.no_replay,
        keys,
        ..Default::default()
    };
    let report = audit(&target, &vkey, &opts).await?;
    if a.json {
        super::print_json(&report)?;
    } else {
        println!("log size      {}", report.size);
        println!("root          {}", report.root);
        println!(
            "entries       {} verified against the signed root",
            report.verified_entries
        );
        println!(
            "calls         {} replayed ({:.0} calls/s), {} skipped",
            report.calls_replayed,
            report.calls_per_second(),
            report.calls_skipped
        );
        println!(
            "callers       {} signed request(s) verified, {} unauthenticated --debug call(s)",
            report.signed_requests, report.unauthenticated_calls
        );
        if report.private_skipped > 0 {
            println!(
                "private       {} calls of private apps not replayed (pass --app-key)",
                report.private_skipped
            );
        }
        for m in &report.engine_mismatches {
            println!(
                "engine        {} (entry {}) was loaded by another engine: {:?}",
                m.app, m.load_index, m.recorded
            );
        }
        match &report.first_divergence {
            None if report.is_clean() => println!(
                "result        CLEAN: every entry verifies and every call replays bit-identically"
            ),
            None => println!("result        INCOMPLETE: some calls could not be replayed here"),
            Some(d) => {
                println!("result        DIVERGENCE at entry {} ({})", d.index, d.what);
                println!("  expected    {}", d.expected);
                println!("  got         {}", d.got);
            }
        }
    }
    if !report.is_clean() {
        std::process::exit(2);
    }
    Ok(())
}

/// Arguments of `ledgervm receipt`.
#[derive(clap::Args, Debug)]
pub struct ReceiptArgs {
    #[command(subcommand)]
    pub what: ReceiptWhat,
}

/// Receipt subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ReceiptWhat {
    /// Verify a receipt file offline: the checkpoint signature and the inclusion proof.
    Verify {
        /// The receipt (as saved by `ledgervm call --receipt`, or a call's JSON answer).
        file: PathBuf,
        /// The log's verifier key.
        #[arg(long, env = "LEDGERVM_VKEY")]
        vkey: String,
        /// Print the verified record as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `ledgervm receipt verify FILE --vkey ...`.
pub fn receipt(a: ReceiptArgs) -> anyhow::Result<()> {
    let ReceiptWhat::Verify { file, vkey, json } = a.what;
    let v = verify_receipt_file(&file, &vkey)
        .with_context(|| format!("{} does not verify", file.display()))?;
    if json {
        return super::print_json(&serde_json::json!({
            "index": v.index,
            "tree_size": v.checkpoint.size,
            "record": v.record,
        }));
    }
    println!(
        "receipt OK: entry {} is in the log {} of size {}",
        v.index, v.checkpoint.origin, v.checkpoint.size
    );
    println!("{}", serde_json::to_string(&v.record)?);
    Ok(())
}
