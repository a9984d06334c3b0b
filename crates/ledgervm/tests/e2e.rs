//! End to end, as a user would: start the real `ledgervm` binary on loopback, deploy the
//! real guests, call every export, verify receipts offline, audit, restart, tamper with
//! the data directory, and hand the client a rolled-back log.

mod common;

use common::{Server, bin, cli, copy_dir, guests, manifest_dir, ok, verify_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `ledgervm keygen -o PATH --json` → the public key.
fn keygen(path: &Path) -> String {
    let out = ok(Command::new(bin())
        .args(["keygen", "--json", "-o"])
        .arg(path)
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["public_key"].as_str().unwrap().to_string()
}

fn fails_with(out: Output, code: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected {code}, it succeeded");
    assert!(stderr.contains(code), "expected {code}: {stderr}");
}

#[test]
fn keygen_keys_sign_deploy_call_and_unload() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, trust) = (tmp.path().join("data"), tmp.path().join("trust"));
    let key = |n: &str| tmp.path().join(format!("{n}.key"));
    let (admin_pub, alice_pub) = (keygen(&key("admin")), keygen(&key("alice")));
    keygen(&key("bob"));
    let server = Server::start_with(&data, &["--admin-key", &admin_pub]);
    let sum = guests().join("sum.wasm");
    let sum = sum.to_str().unwrap();
    let with = |n: &str, args: &[&str]| {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--key".to_string(), key(n).to_str().unwrap().to_string()]);
        cli(
            &server,
            &trust,
            &v.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };

    fails_with(
        cli(&server, &trust, &["deploy", sum]),
        "auth.signature_required",
    );
    let out = ok(with("alice", &["deploy", sum, "--signed-only", "--json"]));
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["owner"], alice_pub.as_str());
    fails_with(
        cli(&server, &trust, &["call", "sum.wasm", "Sum", "5", "7"]),
        "auth.signature_required",
    );
    assert_eq!(
        ok(with("bob", &["call", "sum.wasm", "Sum", "5", "7"])).trim(),
        "12"
    );
    fails_with(with("bob", &["unload", "sum.wasm"]), "auth.not_owner");
    let audit = ok(Command::new(bin())
        .args(["verify", &server.url, "--vkey", &server.vkey, "--json"])
        .output()
        .unwrap());
    let report: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(
        report["first_divergence"],
        serde_json::Value::Null,
        "{report}"
    );
    assert_eq!(
        report["signed_requests"], 2,
        "the load and the call: {report}"
    );
    ok(with("admin", &["unload", "sum.wasm"]));
    server.stop();
}

/// A private app from the CLI: deploy with your own key, call it from a user without
/// the key (public part checked, told so) and with it (checked in full), audit with and
/// without the key.
#[test]
fn private_app_with_byok_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, trust) = (tmp.path().join("data"), tmp.path().join("trust"));
    let server = Server::start(&data);
    let oracle = guests().join("oracle_guest.wasm");
    let app_key = "5a".repeat(32);
    let out = ok(cli(
        &server,
        &trust,
        &[
            "deploy",
            oracle.to_str().unwrap(),
            "--name",
            "vault",
            "--private",
            "--encryption-key",
            &app_key,
            "--json",
        ],
    ));
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["private"], true, "{info}");
    assert_eq!(info["key_source"], "byok", "{info}");
    assert!(!out.contains(&app_key), "the key is never echoed: {out}");

    let sealed = cli(&server, &trust, &["call", "vault", "Count", "5"]);
    assert_eq!(ok(sealed.clone()).trim(), "5");
    let note = String::from_utf8_lossy(&sealed.stderr);
    assert!(
        note.contains("sealed") && note.contains("--app-key"),
        "{note}"
    );

    let full = cli(
        &server,
        &trust,
        &["call", "vault", "Count", "2", "--app-key", &app_key],
    );
    assert_eq!(ok(full.clone()).trim(), "7");
    assert!(!String::from_utf8_lossy(&full.stderr).contains("sealed"));
    // A wrong key is refused, not glossed over.
    let wrong = cli(
        &server,
        &trust,
        &["call", "vault", "Count", "1", "--app-key", &"00".repeat(32)],
    );
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("does not open"));

    let audit = |extra: &[&str], status: i32| -> serde_json::Value {
        let out = Command::new(bin())
            .args(["verify", &server.url, "--vkey", &server.vkey, "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(status), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Without the key the sealed calls are counted as not replayed: not a clean audit.
    let without = audit(&[], 2);
    assert_eq!(
        without["first_divergence"],
        serde_json::Value::Null,
        "{without}"
    );
    assert_eq!(without["private_skipped"], 3, "{without}");
    let with = audit(&["--app-key", &app_key], 0);
    assert_eq!(with["first_divergence"], serde_json::Value::Null, "{with}");
    assert_eq!(with["private_skipped"], 0, "{with}");
    server.stop();
}

#[test]
fn deploy_call_verify_restart_tamper_and_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let trust = tmp.path().join("trust");
    let g = guests();
    let server = Server::start(&data);

    let out = ok(cli(
        &server,
        &trust,
        &["deploy", g.join("sum.wasm").to_str().unwrap(), "--json"],
    ));
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        info["name"], "sum.wasm",
        "named after the file, as the demo does"
    );
    let ex = g.join("enclave_example.wasm");
    ok(cli(
        &server,
        &trust,
        &["deploy", ex.to_str().unwrap(), "--name", "enclave-example"],
    ));

    let receipt = tmp.path().join("sum-receipt.json");
    let out = ok(cli(
        &server,
        &trust,
        &[
            "call",
            "sum.wasm",
            "Sum",
            "5",
            "7",
            "--receipt",
            receipt.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.trim(), "12");
    let out = ok(Command::new(bin())
        .args([
            "receipt",
            "verify",
            receipt.to_str().unwrap(),
            "--vkey",
            &server.vkey,
        ])
        .output()
        .unwrap());
    assert!(out.starts_with("receipt OK"), "{out}");
    // The receipt does not verify under another log's key.
    let other = Command::new(bin())
        .args(["receipt", "verify", receipt.to_str().unwrap(), "--vkey"])
        .arg("localhost/ledgervm+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .output()
        .unwrap();
    assert!(!other.status.success());

    // Every export of the enclave example, each with a receipt that verifies.
    let hello = ok(cli(&server, &trust, &["call", "enclave-example", "hello"]));
    assert_eq!(hello.trim(), "Hello, World!");
    let n: u32 = ok(cli(
        &server,
        &trust,
        &["call", "enclave-example", "get-random"],
    ))
    .trim()
    .parse()
    .unwrap();
    assert!((1..=100).contains(&n));
    let t = ok(cli(
        &server,
        &trust,
        &["call", "enclave-example", "get-time"],
    ));
    let (secs, nanos) = t.trim().split_once('.').unwrap();
    assert!(
        secs.parse::<u64>().unwrap() > 1_700_000_000 && nanos.len() == 9,
        "{t}"
    );
    let stored = ok(cli(
        &server,
        &trust,
        &[
            "call",
            "enclave-example",
            "kv-store",
            "greeting",
            "Hello from WASM",
        ],
    ));
    assert_eq!(stored.trim(), "stored: greeting");
    let read = ok(cli(
        &server,
        &trust,
        &["call", "enclave-example", "kv-read", "greeting"],
    ));
    assert_eq!(read.trim(), "Hello from WASM");
    let missing = ok(cli(
        &server,
        &trust,
        &["call", "enclave-example", "kv-read", "missing"],
    ));
    assert_eq!(missing.trim(), "error: key not found: missing");
    // No headlines URL configured and egress to loopback refused: a recorded result.
    let fetch = cli(
        &server,
        &trust,
        &["call", "enclave-example", "fetch-headlines", "--json"],
    );
    let fetch: serde_json::Value = serde_json::from_slice(&fetch.stdout).unwrap();
    fetch["receipt"]["proof"]
        .as_str()
        .expect("fetch-headlines is recorded with a receipt");

    // A clean audit, over HTTP.
    let audit = ok(Command::new(bin())
        .args(["verify", &server.url, "--vkey", &server.vkey])
        .output()
        .unwrap());
    assert!(audit.contains("CLEAN"), "{audit}");

    // Keep a copy of the log as it is now, for the rollback test below.
    let old = tmp.path().join("old-data");
    copy_dir(&data, &old);

    // Restart: the log and apps are intact, state too.
    let apps_before = ok(cli(&server, &trust, &["apps", "--json"]));
    ok(cli(&server, &trust, &["call", "sum.wasm", "Sum", "1", "2"]));
    server.stop();
    let server = Server::start(&data);
    let apps_after = ok(cli(&server, &trust, &["apps", "--json"]));
    assert_eq!(apps_before, apps_after);
    let read = ok(cli(
        &server,
        &trust,
        &["call", "enclave-example", "kv-read", "greeting"],
    ));
    assert_eq!(read.trim(), "Hello from WASM");
    let vkey = server.vkey.clone();

    // Rollback: the same log key serving the older copy. The client, which has seen the
    // longer log, refuses it and keeps both checkpoints as evidence.
    server.stop();
    let stale = Server::start(&old);
    assert_eq!(stale.vkey, vkey);
    let refused = cli(&stale, &trust, &["log", "tail", "-n", "1"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("rollback"), "{err}");
    let evidence = std::fs::read_dir(&trust)
        .unwrap()
        .flatten()
        .any(|e| e.path().is_dir());
    assert!(evidence, "evidence kept under {}", trust.display());
    stale.stop();

    // Tamper: one byte of a stored entry. The audit of the data dir names that entry.
    let clean = ok(verify_dir(&data, &vkey));
    assert!(clean.contains("CLEAN"), "{clean}");
    let bundle = find_entry_bundle(&data.join("log/tile/entries"));
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&bundle, &bytes).unwrap();
    let tampered = verify_dir(&data, &vkey);
    assert_eq!(tampered.status.code(), Some(2));
    let report = String::from_utf8_lossy(&tampered.stdout);
    assert!(report.contains("DIVERGENCE at entry"), "{report}");
}

/// `ledgervm repl` through a pseudo-terminal (Python `pexpect`, from the venv at
/// `$LEDGERVM_PYTHON`): completion, calls, verified receipts, history across sessions.
#[test]
fn repl_through_a_pty() {
    let python = std::env::var("LEDGERVM_PYTHON")
        .expect("LEDGERVM_PYTHON is not set: run scripts/test or source scripts/env.sh");
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    let server = Server::start(&tmp.path().join("data"));
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let g = guests();
    ok(cli(
        &server,
        &trust,
        &["deploy", g.join("sum.wasm").to_str().unwrap()],
    ));
    // The demo route is for curl; with the self-signed certificate that is `curl -k`.
    if let Ok(out) = Command::new("curl")
        .args([
            "-sk",
            &format!("{}/immutable/sum.wasm?func=Sum&a=5&b=7", server.url),
        ])
        .output()
    {
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(body.contains("12"), "curl -k: {body}");
    }
    let out = Command::new(python)
        .arg(manifest_dir().join("../../tests/interop/repl_pty.py"))
        .arg(bin())
        .arg(&server.url)
        .arg(&server.vkey)
        .arg(&trust)
        .arg(tmp.path().join("history"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "repl_pty.py failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
}

/// The entry bundle that holds the newest entries at the log's current size: the
/// partial bundle with the greatest width (older, narrower partials are still valid
/// tiles for older tree sizes, so flipping one of those changes nothing served for
/// the current size).
fn find_entry_bundle(dir: &Path) -> PathBuf {
    let partials = dir.join("000.p");
    std::fs::read_dir(&partials)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let width: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((width, e.path()))
        })
        .max()
        .expect("a partial entry bundle: the test log is under 256 entries")
        .1
}
