//! Commands that talk to a server through the verifying client: deploy, call, apps,
//! unload, log. Every answer is checked (signature, inclusion, consistency with the last
//! checkpoint this machine trusted) before anything is printed.

use crate::Remote;
use anyhow::{Context, bail};
use ledgervm_client::{CallerKey, Client, KeyPin, LoadOptions, TrustStore};
use ledgervm_node::record::{CallPolicy, Outcome};
use ledgervm_runtime::value::{Value, parse_plain};
use std::path::PathBuf;

/// Builds the verifying client for `remote`.
pub fn client(remote: &Remote) -> anyhow::Result<Client> {
    let trust = match &remote.trust_dir {
        Some(dir) => TrustStore::open(dir),
        None => TrustStore::default_location()
            .context("finding the config directory for trusted checkpoints")?,
    };
    let pin = match &remote.vkey {
        Some(v) => KeyPin::Vkey(v.clone()),
        None => KeyPin::TrustOnFirstUse,
    };
    let client = Client::new(&remote.server, trust, pin)?;
    if let Some(path) = &remote.key {
        client.set_caller_key(CallerKey::from_file(path)?);
    }
    Ok(client)
}

/// Arguments of `ledgervm deploy`.
#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    /// The module: a .wasm binary (core module or component) or .wat text.
    pub file: PathBuf,
    /// App name (default: the file name, e.g. `sum.wasm`).
    #[arg(long)]
    pub name: Option<String>,
    /// Fuel per call.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Linear memory cap per call, bytes.
    #[arg(long)]
    pub max_memory_bytes: Option<u64>,
    /// Wall-clock deadline per call, milliseconds.
    #[arg(long)]
    pub deadline_ms: Option<u64>,
    /// Only accept signed calls.
    #[arg(long, conflicts_with = "allow")]
    pub signed_only: bool,
    /// Only accept calls signed by this key (64 hex digits); repeat for more keys.
    #[arg(long, value_name = "PUBKEY")]
    pub allow: Vec<String>,
    /// Seal the app's call payloads (arguments, results, transcript, writes) in the
    /// log under its key: the log stays verifiable by anyone, replayable only with it.
    #[arg(long)]
    pub private: bool,
    /// Your own app key (64 hex digits) instead of one the server generates and
    /// destroys on unload. Prefer the environment variable: a flag shows in `ps`.
    #[arg(
        long,
        env = "LEDGERVM_ENCRYPTION_KEY",
        value_name = "HEX",
        hide_env_values = true
    )]
    pub encryption_key: Option<String>,
    /// Most keys the app's state may hold (server default 100,000).
    #[arg(long)]
    pub max_keys: Option<u64>,
    #[command(flatten)]
    pub remote: Remote,
}

/// `ledgervm deploy FILE`.
pub async fn deploy(a: DeployArgs) -> anyhow::Result<()> {
    let module = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let name = match a.name {
        Some(n) => n,
        None => a
            .file
            .file_name()
            .and_then(|n| n.to_str())
            .context("the file has no usable name; pass --name")?
            .to_string(),
    };
    let opts = LoadOptions {
        fuel: a.fuel,
        max_memory_bytes: a.max_memory_bytes,
        deadline_ms: a.deadline_ms,
        policy: if !a.allow.is_empty() {
            Some(CallPolicy::AllowList(a.allow.clone()))
        } else {
            a.signed_only.then_some(CallPolicy::Signed)
        },
        private: a.private,
        max_keys: a.max_keys,
        encryption_key: a
            .encryption_key
            .as_deref()
            .map(ledgervm_node::secret::AppKey::from_hex)
            .transpose()
            .context("--encryption-key must be 64 hex digits")?,
        ..Default::default()
    };
    let info = client(&a.remote)?.load(&name, &module, &opts).await?;
    if a.remote.json {
        return super::print_json(&info);
    }
    println!("loaded {} at index {}", info.name, info.index);
    if let Some(owner) = &info.owner {
        println!("  owner     {owner}");
    }
    println!("  code hash {}", info.code_hash);
    println!("  cid       {}", info.cid);
    for e in &info.exports {
        println!("  export    {} {}", e.name, serde_json::to_string(&e.ty)?);
    }
    Ok(())
}

/// Arguments of `ledgervm call`.
#[derive(clap::Args, Debug)]
pub struct CallArgs {
    /// App name.
    pub app: String,
    /// Export to call.
    pub func: String,
    /// Arguments: plain words (`5`, `hello`, `true`) parsed against the export's
    /// parameter types, or typed JSON values (`{"type":"u32","value":5}`). Negative
    /// numbers are fine (`-5`); put other values that start with `-` after `--`.
    #[arg(allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// Save the receipt to this file (verify it later with `ledgervm receipt verify`).
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// A private app's key (64 hex digits): open its sealed call record and check the
    /// arguments and result against it too (without it only the public part is checked).
    #[arg(
        long,
        env = "LEDGERVM_APP_KEY",
        value_name = "HEX",
        hide_env_values = true
    )]
    pub app_key: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

/// `ledgervm call APP FUNC ARGS...`.
pub async fn call(a: CallArgs) -> anyhow::Result<()> {
    let client = client(&a.remote)?;
    let info = client.app(&a.app).await?;
    let export = info
        .exports
        .iter()
        .find(|e| e.name == a.func)
        .with_context(|| {
            let names: Vec<_> = info.exports.iter().map(|e| e.name.as_str()).collect();
            format!(
                "{} has no export {:?}; it has: {}",
                a.app,
                a.func,
                names.join(", ")
            )
        })?;
    if export.ty.params.len() != a.args.len() {
        bail!(
            "{} takes {} argument(s) ({}), {} given",
            a.func,
            export.ty.params.len(),
            export
                .ty
                .params
                .iter()
                .map(|p| format!(
                    "{}: {}",
                    p.name,
                    serde_json::to_string(&p.ty).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", "),
            a.args.len()
        );
    }
    let args = a
        .args
        .iter()
        .zip(&export.ty.params)
        .map(|(text, p)| {
            parse_plain(text, &p.ty).with_context(|| format!("argument {:?} ({text:?})", p.name))
        })
        .collect::<anyhow::Result<Vec<Value>>>()?;
    if let Some(k) = &a.app_key {
        let key = ledgervm_node::secret::AppKey::from_hex(k)
            .context("--app-key must be 64 hex digits")?;
        client.set_app_key(&a.app, key);
    }
    let r = client.call(&a.app, &a.func, &args).await?;
    if let Some(path) = &a.receipt {
        std::fs::write(path, serde_json::to_vec_pretty(&r.receipt)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if a.remote.json {
        return super::print_json(&r);
    }
    match &r.result {
        Outcome::Ok(values) => {
            for v in values {
                println!("{}", plain(v));
            }
        }
        Outcome::Err(e) => eprintln!("call failed ({}): {e}", e.code()),
    }
    if let Some(out) = &r.stdout {
        eprint!("{out}");
    }
    if info.private && a.app_key.is_none() {
        eprintln!(
            "entry {} · fuel {} · receipt verified; the logged payload is sealed (private app): \
             pass --app-key to check this result against it",
            r.index, r.fuel
        );
    } else {
        eprintln!("entry {} · fuel {} · receipt verified", r.index, r.fuel);
    }
    if matches!(r.result, Outcome::Err(_)) {
        std::process::exit(3);
    }
    Ok(())
}

/// A value the way a person would write it.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Char(c) => c.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::S8(x) => x.to_string(),
        Value::U8(x) => x.to_string(),
        Value::S16(x) => x.to_string(),
        Value::U16(x) => x.to_string(),
        Value::S32(x) | Value::I32(x) => x.to_string(),
        Value::U32(x) => x.to_string(),
        Value::S64(x) | Value::I64(x) => x.to_string(),
        Value::U64(x) => x.to_string(),
        Value::F32(bits) => f32::from_bits(*bits).to_string(),
        Value::F64(bits) => f64::from_bits(*bits).to_string(),
        other => other.to_json().to_string(),
    }
}

/// Arguments of `ledgervm apps`.
#[derive(clap::Args, Debug)]
pub struct AppsArgs {
    /// Show one app in detail.
    pub name: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

/// `ledgervm apps [NAME]`.
pub async fn apps(a: AppsArgs) -> anyhow::Result<()> {
    let client = client(&a.remote)?;
    let apps = match &a.name {
        Some(n) => vec![client.app(n).await?],
        None => client.apps().await?,
    };
    if a.remote.json {
        return super::print_json(&apps);
    }
    if apps.is_empty() {
        println!("no apps loaded");
    }
    for info in apps {
        println!(
            "{:<24} {}  index {:<6} {} export(s)",
            info.name,
            &info.code_hash[..16],
            info.index,
            info.exports.len()
        );
        if a.name.is_some() {
            println!("  cid   {}", info.cid);
            println!("  kind  {}", serde_json::to_string(&info.app_kind)?);
            println!("  fuel  {}", info.limits.fuel);
            for e in &info.exports {
                println!("  export {} {}", e.name, serde_json::to_string(&e.ty)?);
            }
        }
    }
    Ok(())
}

/// Arguments of `ledgervm unload`.
#[derive(clap::Args, Debug)]
pub struct UnloadArgs {
    /// App name.
    pub name: String,
    #[command(flatten)]
    pub remote: Remote,
}

/// `ledgervm unload NAME`.
pub async fn unload(a: UnloadArgs) -> anyhow::Result<()> {
    let u = client(&a.remote)?.unload(&a.name).await?;
    if a.remote.json {
        return super::print_json(&u);
    }
    println!("unloaded {} ({}) at index {}", u.name, u.code_hash, u.index);
    Ok(())
}

/// Arguments of `ledgervm log`.
#[derive(clap::Args, Debug)]
pub struct LogArgs {
    #[command(subcommand)]
    pub what: LogWhat,
    #[command(flatten)]
    pub remote: Remote,
}

/// What `ledgervm log` shows.
#[derive(clap::Subcommand, Debug)]
pub enum LogWhat {
    /// The last entries, verified.
    Tail {
        /// How many.
        #[arg(short = 'n', default_value_t = 10)]
        n: u64,
    },
    /// One entry, verified, in full.
    Show {
        /// Entry index.
        index: u64,
    },
}

/// `ledgervm log tail|show`.
pub async fn log(a: LogArgs) -> anyhow::Result<()> {
    let client = client(&a.remote)?;
    let info = client.log_info().await?;
    let range = match a.what {
        LogWhat::Tail { n } => info.size.saturating_sub(n)..info.size,
        LogWhat::Show { index } => index..index + 1,
    };
    let mut out = Vec::new();
    for i in range {
        let r = client.record(i).await?;
        if a.remote.json {
            out.push(serde_json::json!({ "index": r.index, "record": r.record }));
        } else {
            println!("{:>6}  {}", r.index, serde_json::to_string(&r.record)?);
        }
    }
    if a.remote.json {
        super::print_json(&out)?;
    } else {
        eprintln!(
            "log {} size {} · every entry shown was verified against a signed checkpoint",
            info.origin, info.size
        );
    }
    Ok(())
}
