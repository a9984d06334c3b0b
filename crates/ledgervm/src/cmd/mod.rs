//! One module per group of subcommands.

pub mod bench;
pub mod keygen;
pub mod kv;
pub mod remote;
pub mod repl;
pub mod serve;
pub mod verify;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
