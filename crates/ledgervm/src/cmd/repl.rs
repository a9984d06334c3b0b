//! `ledgervm repl URL`: an interactive JSON-RPC session with one app, like NodeVMS's
//! `nodevms repl`. Lines are `Method arg arg…` (plain words read against the export's
//! parameter types) or `Method(json, json…)`; `.help` lists the dot commands. History is
//! kept in a file; Tab completes method names and dot commands.
//!
//! The WebSocket's TLS certificate is checked against the identity document signed by
//! the pinned log key before the first request, and `.receipt` verifies the receipt it
//! prints.

use anyhow::{Context, bail};
use ledgervm_client::ws::RpcSession;
use ledgervm_client::{Client, KeyPin, TrustStore};
use ledgervm_node::record::ExportInfo;
use ledgervm_runtime::value::parse_plain;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context as RlContext, Editor, Helper};
use serde_json::{Value as Json, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Arguments of `ledgervm repl`.
#[derive(clap::Args, Debug)]
pub struct ReplArgs {
    /// Server base URL.
    #[arg(default_value = "https://127.0.0.1:8080", env = "LEDGERVM_SERVER")]
    pub url: String,
    /// App to talk to (or `.app NAME` inside).
    #[arg(long)]
    pub app: Option<String>,
    /// The log's verifier key (default: trust on first use).
    #[arg(long, env = "LEDGERVM_VKEY")]
    pub vkey: Option<String>,
    /// Directory of trusted checkpoints (default: the user's config dir).
    #[arg(long, env = "LEDGERVM_TRUST_DIR")]
    pub trust_dir: Option<PathBuf>,
    /// History file (default: ~/.ledgervm_history).
    #[arg(long, env = "LEDGERVM_HISTORY")]
    pub history: Option<PathBuf>,
}

const DOT_COMMANDS: &[(&str, &str)] = &[
    (".help", "this list"),
    (".methods", "the app's methods and their types"),
    (".app NAME", "switch to another app"),
    (
        ".receipt [N]",
        "fetch and verify the receipt of entry N (default: the last call)",
    ),
    (
        ".attest",
        "show the identity document bound to this connection",
    ),
    (".exit", "leave (also Ctrl-D)"),
];

/// Tab completion over the current app's method names and the dot commands.
struct ReplHelper {
    methods: Arc<Mutex<Vec<String>>>,
}

impl Completer for ReplHelper {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &RlContext<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let word = &line[..pos];
        if word.contains([' ', '(']) {
            return Ok((pos, vec![]));
        }
        let mut names: Vec<String> = DOT_COMMANDS
            .iter()
            .map(|(c, _)| c.split(' ').next().unwrap_or(c).to_string())
            .collect();
        names.extend(self.methods.lock().expect("not poisoned").iter().cloned());
        let mut out: Vec<String> = names.into_iter().filter(|n| n.starts_with(word)).collect();
        out.sort();
        out.dedup();
        Ok((0, out))
    }
}
impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

struct Session {
    client: Client,
    rpc: RpcSession,
    exports: Vec<ExportInfo>,
    methods: Arc<Mutex<Vec<String>>>,
    last_index: Option<u64>,
}

impl Session {
    async fn handshake(&mut self, app: &str) -> anyhow::Result<()> {
        let hs = self
            .rpc
            .request("rpc.handshake", json!({ "app": app }))
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let key = self.client.key().await?;
        if hs["vkey"] != key.vkey() {
            bail!(
                "server's WebSocket names log key {} but {} is pinned",
                hs["vkey"],
                key.vkey()
            );
        }
        self.exports = serde_json::from_value(hs["methods"].clone()).context("methods")?;
        *self.methods.lock().expect("not poisoned") =
            self.exports.iter().map(|e| e.name.clone()).collect();
        println!(
            "{} {} — {} methods; log {} (size {})",
            hs["app"].as_str().unwrap_or(app),
            hs["code_hash"].as_str().unwrap_or(""),
            self.exports.len(),
            hs["origin"].as_str().unwrap_or(""),
            hs["size"]
        );
        Ok(())
    }

    /// `Method(a, b)` → params as JSON; `Method a b` → words typed by the signature.
    fn parse_call(&self, line: &str) -> anyhow::Result<(String, Json)> {
        if let Some(open) = line.find('(') {
            let name = line[..open].trim().to_string();
            let inner = line[open + 1..]
                .trim_end()
                .strip_suffix(')')
                .context("missing closing parenthesis")?;
            let params: Json = serde_json::from_str(&format!("[{inner}]"))
                .context("arguments in parentheses must be JSON values")?;
            return Ok((name, params));
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default().to_string();
        let words: Vec<&str> = words.collect();
        let Some(export) = self.exports.iter().find(|e| e.name == name) else {
            // Let the server say it does not exist.
            return Ok((name, Json::Array(words.iter().map(|w| json!(w)).collect())));
        };
        if words.len() != export.ty.params.len() {
            bail!(
                "{name} takes {} arguments, got {}",
                export.ty.params.len(),
                words.len()
            );
        }
        let params = words
            .iter()
            .zip(&export.ty.params)
            .map(|(w, f)| parse_plain(w, &f.ty).map(|v| v.to_json()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((name, Json::Array(params)))
    }

    async fn line(&mut self, line: &str) -> anyhow::Result<bool> {
        let mut parts = line.split_whitespace();
        match parts.next().unwrap_or_default() {
            "" => {}
            ".exit" | ".quit" => return Ok(false),
            ".help" => {
                for (c, what) in DOT_COMMANDS {
                    println!("  {c:<14} {what}");
                }
                println!("  Method a b     call with plain words, typed by the signature");
                println!("  Method(1, \"x\") call with JSON arguments");
            }
            ".methods" => {
                for e in &self.exports {
                    println!("  {} {}", e.name, serde_json::to_string(&e.ty)?);
                }
            }
            ".app" => {
                let app = parts.next().context(".app NAME")?;
                self.handshake(app).await?;
            }
            ".attest" => {
                let der = self.rpc.peer_certificate().context("not a TLS session")?;
                let a = self.client.check_certificate(der).await?;
                print!("{}", a.note);
                println!("(bound to this connection's certificate: ok)");
            }
            ".receipt" => {
                let index = match parts.next() {
                    Some(n) => n.parse().context("entry index")?,
                    None => self.last_index.context("no call yet; .receipt N")?,
                };
                let r = self
                    .rpc
                    .request("rpc.receipt", json!({ "index": index }))
                    .await?
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let receipt: ledgervm_node::Receipt = serde_json::from_value(r)?;
                let key = self.client.key().await?;
                let v = receipt
                    .verify(key.vkey())
                    .context("receipt does not verify")?;
                if v.index != index {
                    bail!(
                        "asked for entry {index}, the receipt is for entry {}",
                        v.index
                    );
                }
                println!("{}", serde_json::to_string_pretty(&receipt)?);
                println!(
                    "receipt verified: entry {} in checkpoint of size {}",
                    index, v.checkpoint.size
                );
            }
            dot if dot.starts_with('.') => bail!("unknown command {dot}; try .help"),
            _ => {
                let (method, params) = self.parse_call(line)?;
                match self.rpc.request(&method, params).await? {
                    Ok(r) => {
                        self.last_index = r["index"].as_u64();
                        let vals: Vec<String> = r["returns"]
                            .as_array()
                            .map(|a| a.iter().map(|v| v["value"].to_string()).collect())
                            .unwrap_or_default();
                        println!("{}   (entry {})", vals.join(", "), r["index"]);
                    }
                    Err(e) => {
                        if let Some(i) = e.data.as_ref().and_then(|d| d["index"].as_u64()) {
                            self.last_index = Some(i);
                        }
                        println!("{e}");
                    }
                }
            }
        }
        Ok(true)
    }
}

/// `ledgervm repl URL`.
pub async fn repl(a: ReplArgs) -> anyhow::Result<()> {
    let trust = match &a.trust_dir {
        Some(d) => TrustStore::open(d),
        None => TrustStore::default_location().context("finding the config directory")?,
    };
    let pin = a.vkey.clone().map_or(KeyPin::TrustOnFirstUse, KeyPin::Vkey);
    let client = Client::new(&a.url, trust, pin)?;
    println!("Connecting to {} ...", a.url);
    client.key().await.context("fetching the log key")?;
    let rpc = RpcSession::connect(&a.url, a.app.as_deref()).await?;
    if let Some(der) = rpc.peer_certificate() {
        let att = client
            .check_certificate(der)
            .await
            .context("the server's certificate is not bound to its signed identity")?;
        println!(
            "Connected. Certificate bound to identity {} ({} apps).",
            &hex::encode(att.digest)[..16],
            att.document.apps.len()
        );
    } else {
        println!("Connected (plain HTTP: no channel binding).");
    }
    let methods = Arc::new(Mutex::new(Vec::new()));
    let mut s = Session {
        client,
        rpc,
        exports: vec![],
        methods: methods.clone(),
        last_index: None,
    };
    match &a.app {
        Some(app) => s.handshake(app).await?,
        None => println!("No app chosen: .app NAME"),
    }
    println!("Type .help for commands.");
    let history = a.history.clone().unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into()))
            .join(".ledgervm_history")
    });
    // rustyline blocks: it runs on a thread of its own and hands each line over, waiting
    // for the answer to be printed before it shows the next prompt.
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (ack_tx, ack) = std::sync::mpsc::channel::<bool>();
    let editor = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut ed: Editor<ReplHelper, rustyline::history::FileHistory> = Editor::new()?;
        ed.set_helper(Some(ReplHelper { methods }));
        let _ = ed.load_history(&history);
        loop {
            match ed.readline("> ") {
                Ok(line) => {
                    let _ = ed.add_history_entry(line.as_str());
                    if line_tx.send(line).is_err() || !ack.recv().unwrap_or(false) {
                        break;
                    }
                }
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            }
        }
        if let Err(e) = ed.save_history(&history) {
            eprintln!("could not save history to {}: {e}", history.display());
        }
        Ok(())
    });
    while let Some(line) = lines.recv().await {
        let go_on = match s.line(line.trim()).await {
            Ok(go_on) => go_on,
            Err(e) => {
                println!("error: {e:#}");
                true
            }
        };
        let _ = ack_tx.send(go_on);
        if !go_on {
            break;
        }
    }
    drop(ack_tx);
    editor
        .join()
        .map_err(|_| anyhow::anyhow!("the line editor panicked"))??;
    s.rpc.close().await;
    Ok(())
}
