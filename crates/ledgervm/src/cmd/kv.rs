//! `ledgervm kv get APP KEY`: a verified read of an app's state.

use super::remote::client;
use crate::Remote;

/// Arguments of `ledgervm kv`.
#[derive(clap::Args, Debug)]
pub struct KvArgs {
    #[command(subcommand)]
    pub what: KvWhat,
}

/// `kv` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum KvWhat {
    /// Read a key: the value, the record that wrote it, checked through its receipt.
    Get {
        /// App name.
        app: String,
        /// Key (UTF-8).
        key: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs `ledgervm kv ...`.
pub async fn kv(a: KvArgs) -> anyhow::Result<()> {
    match a.what {
        KvWhat::Get { app, key, remote } => {
            let v = client(&remote)?.kv_get(&app, &key).await?;
            if remote.json {
                return super::print_json(&v);
            }
            match std::str::from_utf8(&v.value) {
                Ok(text) if !text.chars().any(char::is_control) => println!("value  {text}"),
                _ => println!("value  0x{}", hex::encode(&v.value)),
            }
            println!("written by record {} (receipt verified)", v.index);
            Ok(())
        }
    }
}
