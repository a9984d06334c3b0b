//! A crash between a call's log commit and its state write loses nothing: a child
//! process bumps a counter as fast as it can and is SIGKILLed at a random point, over
//! and over; after each kill the state recovered from the log must count every call
//! acknowledged before the kill, equal the number of successful calls in the log, and
//! match every recorded state digest (recovery checks them).
//!
//! Rounds: 6 by default; `LEDGERVM_CRASH_ROUNDS=200 cargo nextest run --workspace -E
//! 'test(crash_between)'` for a longer soak.

use ledgervm_node::Requester;
use ledgervm_node::record::{Outcome, Record};
use ledgervm_node::{CallInput, LoadRequest, Node, NodeOptions};
use ledgervm_runtime::value::Value;
use std::io::BufRead;

const COUNTER: &str = include_str!("../../../guests/wat/kv-counter.wat");
const CHILD_ENV: &str = "LEDGERVM_CRASH_CHILD_DIR";
const NAME: &str = "crash_between_log_commit_and_state_write_loses_nothing";

fn bump_input() -> CallInput {
    CallInput {
        app: "counter".into(),
        func: "bump".into(),
        args: vec![Value::I64(1)],
        requester: Requester::Anonymous,
    }
}

/// The child: open (recovering), then bump forever, printing each acknowledged value.
fn child(dir: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let n = Node::open(NodeOptions::new(dir)).await.unwrap();
        if n.app("counter").is_none() {
            n.load(LoadRequest::new("counter", COUNTER.as_bytes().to_vec()))
                .await
                .unwrap();
        }
        println!("ready");
        loop {
            let r = n.call(bump_input()).await.unwrap();
            let Outcome::Ok(v) = r.outcome else { panic!() };
            println!("ack {:?}", v[0]);
        }
    });
}

#[test]
fn crash_between_log_commit_and_state_write_loses_nothing() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let rounds: u64 = std::env::var("LEDGERVM_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().unwrap();
    let mut acked = 0i64;
    for round in 0..rounds {
        let mut c = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(c.stdout.take().unwrap());
        // Kill after a varying number of acknowledged calls.
        let kill_after = 3 + (round * 7) % 23;
        let mut seen = 0;
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(v) = line
                .strip_prefix("ack I64(")
                .and_then(|v| v.strip_suffix(')'))
            {
                acked = acked.max(v.parse().unwrap());
                seen += 1;
                if seen >= kill_after {
                    break;
                }
            }
        }
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Opening recovers and checks every recorded state digest.
        let n = Node::open(NodeOptions::new(dir.path())).await.unwrap();
        let mut ok_calls = 0i64;
        for i in 0..n.size() {
            if let Record::Call(c) = n.record(i).unwrap()
                && matches!(c.outcome, Outcome::Ok(_))
            {
                ok_calls += 1;
            }
        }
        let r = n.call(bump_input()).await.unwrap();
        let Outcome::Ok(v) = r.outcome else { panic!() };
        let Value::I64(now) = v[0] else { panic!() };
        assert_eq!(now, ok_calls + 1, "state = the log's successful calls");
        assert!(
            now > acked,
            "every acknowledged call counted ({acked} acked)"
        );
    });
}
