//! The `ledgervm` command line: a thin binary over the library crates.

use clap::Parser;

/// Run WebAssembly apps so that nobody has to trust the machine that runs them.
#[derive(Parser, Debug)]
#[command(name = "ledgervm", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
