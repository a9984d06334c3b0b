//! `ledgervm keygen`: an Ed25519 identity for signing calls.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `ledgervm keygen`.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the private key (hex seed, mode 0600). Refuses to overwrite.
    #[arg(long, short = 'o', default_value = "ledgervm-caller.key")]
    pub out: PathBuf,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

/// Writes a new key and prints its public half.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let public = hex::encode(key.verifying_key().as_bytes());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&args.out)
        .with_context(|| format!("creating {} (it must not exist yet)", args.out.display()))?;
    writeln!(f, "{}", hex::encode(key.to_bytes()))?;
    f.sync_all()?;
    if args.json {
        super::print_json(
            &serde_json::json!({ "public_key": public, "private_key_file": args.out }),
        )
    } else {
        println!("public key  {public}");
        println!("private key {} (keep it secret)", args.out.display());
        Ok(())
    }
}
