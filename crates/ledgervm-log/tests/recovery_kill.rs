//! Recovery, test 2: SIGKILL a child process in the middle of appending, in a loop.
//!
//! The test re-executes its own binary (running the ignored `child_appender` helper)
//! with `LVM_KILL_CHILD_DIR` set. The child appends forever and prints `index hex(entry)`
//! for each acknowledged append. The parent kills it after a random delay, re-opens the
//! log with full verification, and checks that every printed entry is there with a valid
//! inclusion proof and that the new head is consistent with the previous iteration's.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ORIGIN, opts, reopen_and_check, signer};
use ledgervm_log::appender::Log;
use ledgervm_log::storage::{LocalOptions, LocalStorage};
use rand::{Rng, SeedableRng};

const ENV: &str = "LVM_KILL_CHILD_DIR";
const ITERATIONS: usize = 20;

#[test]
#[ignore = "helper process for kill_child_mid_append; does nothing on its own"]
fn child_appender() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let storage = LocalStorage::open_with(
            &dir,
            LocalOptions {
                // Small, so kills also land inside flushes.
                flush_threshold: 64 << 10,
                ..LocalOptions::default()
            },
        )
        .unwrap();
        let log = Log::open(storage, signer(), ORIGIN, opts(64))
            .await
            .unwrap();
        println!("ready");
        let mut rng = rand::rngs::StdRng::from_entropy();
        loop {
            let wave = rng.gen_range(1..=100);
            let hs: Vec<_> = (0..wave)
                .map(|_| {
                    let len = rng.gen_range(0..600);
                    let e: Vec<u8> = (0..len).map(|_| rng.r#gen::<u8>()).collect();
                    (e.clone(), tokio::spawn(log.append(e)))
                })
                .collect();
            for (e, h) in hs {
                let i = h.await.unwrap().unwrap();
                // One write per line, so a kill leaves at worst a partial last line.
                println!("{i} {}", hex::encode(&e));
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_child_mid_append() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut head: Option<(u64, [u8; 32])> = None;
    let mut all_acked: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut grew = 0;
    for it in 0..ITERATIONS {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "child_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut r = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 || line.last() != Some(&b'\n') {
                    break; // EOF, or a line cut short by the kill
                }
                let s = String::from_utf8_lossy(&line[..line.len() - 1]).to_string();
                // The harness prints "test child_appender ... " before our first line.
                if s.ends_with("ready") {
                    let _ = ready_tx.send(());
                    continue;
                }
                if let Some((i, e)) = s.split_once(' ')
                    && let (Ok(i), Ok(e)) = (i.parse::<u64>(), hex::decode(e))
                {
                    acked.push((i, e));
                }
            }
            acked
        });
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("child did not start (iteration {it})"));
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..150)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        let log = reopen_and_check(dir.path(), &acked, None, head).await;
        // Entries acknowledged in earlier iterations are still there too.
        for (i, e) in all_acked.iter().step_by(97) {
            assert_eq!(&log.entry(*i).unwrap(), e);
        }
        if head.is_some_and(|(s, _)| log.size() > s) {
            grew += 1;
        }
        head = Some((log.size(), log.root()));
        all_acked.extend(acked);
        log.close().await;
    }
    let size = head.unwrap().0;
    assert!(
        !all_acked.is_empty(),
        "the children never acknowledged anything"
    );
    assert!(
        grew > ITERATIONS / 2,
        "the log grew in only {grew} of {ITERATIONS} iterations"
    );
    eprintln!(
        "{ITERATIONS} kills: log size {size}, {} acknowledged entries checked",
        all_acked.len()
    );
}
