//! What the whole machine did during a measurement, from `/proc/stat`: the share of its
//! CPU time that sat idle and the share the hypervisor gave to other guests (steal).
//!
//! Why: on a shared VM the same build's figures move by 30% or more with what else runs.
//! CPU per call says how much work a call took; these two say whether the run could
//! have used more CPU (idle) or was denied it (steal), so a reader can tell a busy window
//! from a slower build.

/// Cumulative CPU time of all CPUs, in clock ticks, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    total: u64,
    idle: u64,
    steal: u64,
}

/// Shares of the machine's CPU time between two samples, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shares {
    /// Idle, waiting for I/O included.
    pub idle: f64,
    /// Stolen by the hypervisor.
    pub steal: f64,
}

/// Parses the aggregate `cpu` line of `/proc/stat`: user nice system idle iowait irq
/// softirq steal (guest time is already inside user and nice).
pub fn parse(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (v.len() == 8).then(|| CpuTimes {
        total: v.iter().sum(),
        idle: v[3] + v[4],
        steal: v[7],
    })
}

/// The machine's CPU times now; `None` where there is no `/proc/stat`.
pub fn sample() -> Option<CpuTimes> {
    parse(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The shares between two samples; `None` if either is missing or no tick passed.
pub fn between(a: Option<CpuTimes>, b: Option<CpuTimes>) -> Option<Shares> {
    let (a, b) = (a?, b?);
    let total = b.total.checked_sub(a.total).filter(|&t| t > 0)? as f64;
    Some(Shares {
        idle: 100.0 * b.idle.saturating_sub(a.idle) as f64 / total,
        steal: 100.0 * b.steal.saturating_sub(a.steal) as f64 / total,
    })
}

impl std::fmt::Display for Shares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "idle {:.1}%, stolen by the hypervisor {:.1}% (whole machine)",
            self.idle, self.steal
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str =
        "cpu  100 5 50 800 20 0 10 15 7 0\ncpu0 50 2 25 400 10 0 5 8 3 0\nintr 1 2\n";

    #[test]
    fn reads_the_aggregate_line() {
        assert_eq!(
            parse(STAT),
            Some(CpuTimes {
                total: 1000,
                idle: 820,
                steal: 15
            })
        );
        assert_eq!(parse("cpu0 1 2 3 4 5 6 7 8\n"), None, "no aggregate line");
        assert_eq!(parse("cpu  1 2 3\n"), None, "too few fields");
        assert_eq!(parse("cpu  1 2 x 4 5 6 7 8\n"), None);
    }

    #[test]
    fn shares_between_samples() {
        let a = parse(STAT);
        let b = parse("cpu  300 5 150 900 20 0 10 115 7 0\n");
        let s = between(a, b).unwrap();
        assert!((s.idle - 20.0).abs() < 1e-9, "{s:?}");
        assert!((s.steal - 20.0).abs() < 1e-9, "{s:?}");
        assert!(between(a, a).is_none(), "no ticks");
        assert!(between(None, b).is_none());
    }
}
