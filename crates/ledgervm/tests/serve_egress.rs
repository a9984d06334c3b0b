//! `ledgervm serve --egress-allow / --egress-ca`: the flags are documented, bad values
//! are refused before the node opens with a message naming the flag, and good values
//! reach the node (the banner echoes them). The egress itself is exercised end to end
//! through the node in crates/ledgervm-node/tests/egress.rs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ledgervm")
}

fn serve(data: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn help_documents_the_egress_flags() {
    let out = Command::new(bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--egress-allow <RULE>",
        "--egress-ca <FILE>",
        "127.0.0.1/32",
        "Repeatable",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from:\n{help}");
    }
}

#[test]
fn bad_egress_values_are_refused_with_the_flag_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let out = serve(&data, &["--egress-allow", "10.0.0.0/33"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--egress-allow") && err.contains("CIDR"),
        "{err}"
    );

    let missing = dir.path().join("no-such-ca.pem");
    let out = serve(&data, &["--egress-ca", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--egress-ca") && err.contains("no-such-ca.pem"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let out = serve(&data, &["--egress-ca", garbage.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no certificate"), "{err}");
    assert!(!data.join("log").exists(), "refused before the node opened");
}

#[test]
fn good_rules_reach_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args(["--egress-allow", "127.0.0.1/32"])
        .args(["--egress-allow", "localhost:8443"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut egress = None;
    for line in lines {
        let line = line.unwrap();
        if line.starts_with("Ctrl-C") {
            break;
        }
        if line.trim_start().starts_with("egress") {
            egress = Some(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        egress.as_deref().map(str::trim),
        Some("egress  allow [127.0.0.1/32, localhost:8443], 0 extra root CA(s)")
    );
}
