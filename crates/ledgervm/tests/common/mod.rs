//! Shared helpers for the binary-level suites: start the real `ledgervm` binary on
//! loopback, run CLI commands against it, copy data directories.
//!
//! The server's base URL (and so its scheme) is whatever `ledgervm serve` prints, never
//! assumed, so these helpers keep working when the server moves to TLS.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The `ledgervm` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ledgervm")
}

/// The crate's directory, read at run time: the shared target directory may hold a test
/// binary that was built in another checkout, and `env!` would point there.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

/// The built guest apps (scripts/build-guests).
pub fn guests() -> PathBuf {
    let dir = std::env::var_os("LEDGERVM_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../../guests/out"));
    assert!(
        dir.join("sum.wasm").exists(),
        "guests not built in {}: run scripts/build-guests",
        dir.display()
    );
    dir
}

/// A running `ledgervm serve`, killed when dropped (use [`Server::stop`] for a graceful
/// stop that must succeed).
pub struct Server {
    /// The child process.
    pub child: Child,
    /// Base URL as the server printed it.
    pub url: String,
    /// The log's verifier key as the server printed it.
    pub vkey: String,
}

impl Server {
    /// Starts `ledgervm serve` on an ephemeral loopback port over `data`.
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// [`Server::start`] with extra arguments to `serve`.
    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ledgervm serve");
        Server::from_child(child).expect("server exited before printing its address")
    }

    /// Wraps a spawned `ledgervm serve` whose stdout is piped: reads its address and key
    /// from what it prints. `None` if it exits first (it refused to start).
    pub fn from_child(mut child: Child) -> Option<Server> {
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut vkey) = (None, None);
        while url.is_none() || vkey.is_none() {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            };
            if let Some(u) = line.strip_prefix("ledgervm serving ") {
                url = Some(u.trim().to_string());
            }
            if let Some(v) = line.trim().strip_prefix("vkey") {
                vkey = Some(v.trim().to_string());
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Some(Server {
            child,
            url: url.unwrap(),
            vkey: vkey.unwrap(),
        })
    }

    /// Graceful stop by SIGINT; panics unless the server exits cleanly within 5 s.
    pub fn stop(mut self) {
        self.signal(2);
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "server exited with {status} after SIGINT");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("server did not shut down within 5 s of SIGINT");
    }

    /// SIGKILL, as a crash: no shutdown code runs. Waits for the process to be gone.
    pub fn crash(mut self) {
        self.signal(9);
        let _ = self.child.wait();
    }

    fn signal(&mut self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc_kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Runs `ledgervm ARGS` against `server` with its own trust dir.
pub fn cli(server: &Server, trust: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .args([
            "--server",
            &server.url,
            "--vkey",
            &server.vkey,
            "--trust-dir",
        ])
        .arg(trust)
        .output()
        .unwrap()
}

/// `ledgervm verify DATA --vkey VKEY` (a full audit with replay).
pub fn verify_dir(data: &Path, vkey: &str) -> Output {
    Command::new(bin())
        .arg("verify")
        .arg(data)
        .args(["--vkey", vkey])
        .output()
        .unwrap()
}

/// The stdout of a command that must have succeeded.
pub fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Copies a directory tree (regular files and directories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Every regular file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A small deterministic generator (xorshift64*), so a failing trial reproduces from its
/// printed seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A count from an environment variable, else `default` (how the long runs opt in).
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
