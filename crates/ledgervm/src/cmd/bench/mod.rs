//! `ledgervm bench`: the service's hot path measured end to end, each figure beside a
//! baseline measured in the same run on the same machine.
//!
//! 1. In-process: `LoadedApp::call` of a trivial export (the runtime's ceiling).
//! 2. End-to-end HTTP: durable calls through a real server on loopback, `concurrency`
//!    keep-alive connections, closed loop — calls/s and the ratio to (1).
//! 3. Latency at half that rate: an open loop at 50% of (2), p50/p99, each request
//!    timed from when it was due (no coordinated omission).
//! 4. Audit: replaying the log just written, calls/s.
//!
//! The load comes from [`load`], a `wrk`-like HTTP/1.1 client in this process: it shares
//! the cores with the server, so it is kept lean.

use anyhow::Context;
use ledgervm_node::record::CallPolicy;
use ledgervm_node::{LoadRequest, Node, NodeOptions};
use ledgervm_runtime::value::Value;
use ledgervm_runtime::{CallRequest, Runtime, RuntimeConfig, state};
use std::time::{Duration, Instant};

mod load;
mod machine;

/// Arguments of `ledgervm bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Concurrent keep-alive HTTP connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Data directory for the benchmark's log (default: a temp dir on the same disk as
    /// the current directory, removed afterwards).
    #[arg(long)]
    pub data: Option<std::path::PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    /// How long the log's group commit waits for a batch to fill, in milliseconds
    /// (default: the node's default).
    #[arg(long)]
    pub group_wait_ms: Option<f64>,
    /// The open-loop phase's rate in calls/s (default: half the closed-loop rate just
    /// measured). A fixed rate, such as the 10,000/s of the service's latency goal, is
    /// comparable across runs whose saturation differs.
    #[arg(long)]
    pub open_rate: Option<f64>,
}

const TRIVIAL: &str = r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

/// The counter/KV guest: `kv10` reads and writes 10 keys.
const KV_GUEST: &str = include_str!("../../../../../guests/wat/kv-counter.wat");

/// Records per second that raw `write` + `fdatasync` of `batch` 400-byte records at a
/// time sustains in `dir`: the most durable calls/s this disk allows with `batch` calls
/// in flight, whatever the software does.
fn disk_ceiling(dir: &std::path::Path, batch: usize, span: Duration) -> anyhow::Result<f64> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(".disk-ceiling");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let buf = vec![0x5a; 400 * batch];
    let (start, mut n) = (Instant::now(), 0u64);
    while start.elapsed() < span {
        f.write_all(&buf)?;
        f.sync_data()?;
        n += batch as u64;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// Per-batch averages of the log's group commits between two [`LogStats`] snapshots:
/// where the durable part of a call's latency goes.
struct CommitBreakdown {
    batches: u64,
    mean_batch: f64,
    /// A whole storage commit (journal, then the file hand-off).
    commit_us: f64,
    /// Journal append + `fdatasync` (the commit point).
    journal_us: f64,
    /// Handing the batch's tiles, bundles and checkpoint to the log's background file
    /// writer (the files are written after the commit, off the call's path).
    publish_us: f64,
    /// Journal flushes (per-file fsyncs, then the journal deleted), which run in the
    /// background beside the commits, amortised per batch.
    flush_us: f64,
    /// How many flushes finished, and their mean duration in milliseconds.
    flushes: u64,
    flush_ms: f64,
}

impl CommitBreakdown {
    fn between(a: &ledgervm_node::LogStats, b: &ledgervm_node::LogStats) -> Self {
        let batches = b.batches - a.batches;
        let (sa, sb) = (&a.storage, &b.storage);
        let per = |x: u64, y: u64| (y - x) as f64 / 1e3 / batches.max(1) as f64;
        CommitBreakdown {
            batches,
            mean_batch: (b.size - a.size) as f64 / batches.max(1) as f64,
            commit_us: per(sa.commit_ns, sb.commit_ns),
            journal_us: per(sa.journal_ns, sb.journal_ns),
            publish_us: per(sa.publish_ns, sb.publish_ns),
            flush_us: per(sa.flush_ns, sb.flush_ns),
            flushes: sb.flushes - sa.flushes,
            flush_ms: (sb.flush_ns - sa.flush_ns) as f64
                / 1e6
                / (sb.flushes - sa.flushes).max(1) as f64,
        }
    }
}

impl std::fmt::Display for CommitBreakdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} batches of {:.1} calls; per batch: commit {:.0} µs (journal+fdatasync {:.0}, file hand-off {:.0}); background flushes {:.0} µs ({} of {:.1} ms)",
            self.batches,
            self.mean_batch,
            self.commit_us,
            self.journal_us,
            self.publish_us,
            self.flush_us,
            self.flushes,
            self.flush_ms
        )
    }
}

/// CPU time this process has used (all threads, user + system). Per call, it says how
/// much work a durable call costs, which throughput alone hides when the process waits;
/// it too moves with a shared machine's other tenants (shared caches and hyperthreads),
/// so compare builds in interleaved runs.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Every acknowledged call is one log entry: a bench that counted failures or unlogged
/// answers would be measuring something else.
fn each_answer_logged(
    before: &ledgervm_node::LogStats,
    after: &ledgervm_node::LogStats,
    answered: usize,
) -> anyhow::Result<()> {
    let grew = after.size - before.size;
    anyhow::ensure!(
        grew == answered as u64,
        "{answered} calls answered but the log grew by {grew}"
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the benchmark and prints the figures.
pub async fn bench(a: BenchArgs) -> anyhow::Result<()> {
    let span = Duration::from_secs_f64(a.seconds);

    // 1. In-process runtime calls (live mode, recording on).
    let rt = Runtime::new(RuntimeConfig::default())?;
    let app = rt.load(TRIVIAL.as_bytes())?;
    let st = state::shared(state::MemoryState::new());
    let (mut n, start) = (0u64, Instant::now());
    while start.elapsed() < span {
        let out = app
            .call(
                CallRequest::live("add", vec![Value::I32(1), Value::I32(2)]),
                st.clone(),
            )
            .await;
        out.result.map_err(|e| anyhow::anyhow!("{e}"))?;
        n += 1;
    }
    let inproc = n as f64 / start.elapsed().as_secs_f64();
    eprintln!("in-process runtime   {inproc:>10.0} calls/s");

    // 2. End-to-end HTTP, durable.
    let tmp = tempfile::Builder::new()
        .prefix(".ledgervm-bench-")
        .tempdir_in(".")?;
    let dir = a.data.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    // 1b. The disk's ceiling for durable calls with `concurrency` in flight: batches of
    // `concurrency` 400-byte records appended and fdatasync'ed, in the same directory.
    let disk = disk_ceiling(&dir, a.concurrency, span / 3)?;
    eprintln!(
        "disk ceiling         {disk:>10.0} calls/s  ({} x 400 B appended + fdatasync per batch)",
        a.concurrency
    );
    let mut opts = NodeOptions::new(&dir);
    if let Some(ms) = a.group_wait_ms {
        opts.max_wait = Duration::from_secs_f64(ms / 1e3);
    }
    let node = Node::open(opts).await.context("opening the bench node")?;
    node.load(LoadRequest {
        name: "bench".into(),
        module: TRIVIAL.into(),
        limits: None,
        policy: CallPolicy::Anonymous,
        encryption_key: None,
        private: false,
        max_keys: None,
    })
    .await?;
    // Plain HTTP: the bench measures the call pipeline, not the TLS record layer.
    let opts = ledgervm_server::ServerOptions {
        tls: None,
        ..Default::default()
    };
    let server = ledgervm_server::serve(node.clone(), "127.0.0.1:0".parse()?, opts).await?;
    let addr = server.local_addr();
    let add = load::Request::post_json(
        addr,
        "/v1/apps/bench/calls/add",
        r#"{"args":[{"type":"i32","value":1},{"type":"i32","value":2}]}"#,
    );
    let (before, cpu0, machine0) = (node.log_stats(), process_cpu(), machine::sample());
    let (e2e, closed_lat) = load::closed_loop(addr, &add, a.concurrency, span).await?;
    let (after, machine) = (
        node.log_stats(),
        machine::between(machine0, machine::sample()),
    );
    each_answer_logged(&before, &after, closed_lat.len())?;
    let cpu_per_call =
        (process_cpu() - cpu0).as_secs_f64() * 1e6 / (after.size - before.size).max(1) as f64;
    let commit = CommitBreakdown::between(&before, &after);
    eprintln!(
        "end-to-end HTTP      {e2e:>10.0} calls/s  ({:.3} of in-process)  p50 {:?} p99 {:?} at saturation",
        e2e / inproc,
        percentile(&closed_lat, 0.5),
        percentile(&closed_lat, 0.99)
    );

    eprintln!(
        "  CPU per call         {cpu_per_call:.0} µs (server and load generator, all threads)"
    );
    if let Some(m) = machine {
        eprintln!("  machine              {m}");
    }
    eprintln!("  log group commit     {commit}");

    // 2b. A KV-heavy call (10 reads + 10 writes of the app's persistent, encrypted
    // state), same server, same run: the ratio to the trivial call is the cost of state.
    node.load(LoadRequest::new("kvbench", KV_GUEST.as_bytes().to_vec()))
        .await?;
    let kv10 = load::Request::post_json(addr, "/v1/apps/kvbench/calls/kv10", r#"{"args":[]}"#);
    let kv_before = node.log_stats();
    let (kv_rate, kv_lat) = load::closed_loop(addr, &kv10, a.concurrency, span).await?;
    each_answer_logged(&kv_before, &node.log_stats(), kv_lat.len())?;
    eprintln!(
        "KV-heavy HTTP        {kv_rate:>10.0} calls/s  ({:.3} of the trivial call)  p50 {:?} p99 {:?}",
        kv_rate / e2e,
        percentile(&kv_lat, 0.5),
        percentile(&kv_lat, 0.99)
    );

    // 3. Open loop at half the closed-loop rate (or `--open-rate`): latency a user sees
    //    under load.
    let rate = a.open_rate.unwrap_or(e2e / 2.0).max(1.0);
    let before = node.log_stats();
    let open_lat = load::open_loop(addr, &add, rate, a.concurrency, span).await?;
    let open_after = node.log_stats();
    each_answer_logged(&before, &open_after, open_lat.len())?;
    let open_commit = CommitBreakdown::between(&before, &open_after);
    let (p50, p99) = (percentile(&open_lat, 0.5), percentile(&open_lat, 0.99));
    eprintln!(
        "latency at {rate:>6.0}/s   p50 {p50:?} p99 {p99:?} (open loop, {} calls)",
        open_lat.len()
    );
    eprintln!("  log group commit     {open_commit}");
    server.shutdown().await?;
    // The audit reads the data directory, whose files trail the log by a writer round.
    let size = node.size();
    node.close().await?;

    // 4. Audit replay of the log just written.
    let vkey = {
        let key = std::fs::read_to_string(dir.join("log.key"))?;
        ledgervm_log::note::Signer::from_private_key(key.trim())?
            .verifier()
            .vkey()
    };
    let report = ledgervm_client::audit(
        &ledgervm_client::AuditTarget::DataDir(dir.clone()),
        &vkey,
        &Default::default(),
    )
    .await?;
    anyhow::ensure!(
        report.is_clean(),
        "bench log did not audit clean: {:?}",
        report.first_divergence
    );
    eprintln!(
        "audit replay         {:>10.0} calls/s  ({} calls, log size {size})",
        report.calls_per_second(),
        report.calls_replayed
    );

    if a.json {
        super::print_json(&serde_json::json!({
            "in_process_calls_per_s": inproc,
            "http_calls_per_s": e2e,
            "http_to_in_process_ratio": e2e / inproc,
            "disk_ceiling_calls_per_s": disk,
            "kv_heavy_calls_per_s": kv_rate,
            "kv_heavy_to_trivial_ratio": kv_rate / e2e,
            "concurrency": a.concurrency,
            "saturation_p50_us": percentile(&closed_lat, 0.5).as_micros(),
            "saturation_p99_us": percentile(&closed_lat, 0.99).as_micros(),
            "half_rate_calls_per_s": rate,
            "half_rate_p50_us": p50.as_micros(),
            "half_rate_p99_us": p99.as_micros(),
            "audit_replay_calls_per_s": report.calls_per_second(),
            "audit_calls": report.calls_replayed,
            "http_cpu_us_per_call": cpu_per_call,
            "http_machine_idle_percent": machine.map(|m| m.idle),
            "http_machine_steal_percent": machine.map(|m| m.steal),
            "commit_batches": commit.batches,
            "commit_mean_batch": commit.mean_batch,
            "commit_mean_us": commit.commit_us,
            "commit_journal_us": commit.journal_us,
            "commit_publish_us": commit.publish_us,
            "commit_flush_us": commit.flush_us,
        }))?;
    }
    Ok(())
}
