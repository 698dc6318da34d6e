//! The standard `process_*` metrics, read from `/proc/self` at scrape time
//! (prometheus-client has no process collector).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads `/proc/self` on every scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    ticks_per_second: f64,
    page_size: f64,
    boot_time: f64,
}

impl ProcessCollector {
    /// Reads the constants the per-scrape figures need.
    pub(crate) fn new() -> Self {
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0);
        ProcessCollector {
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
            boot_time,
        }
    }
}

/// Fields of `/proc/self/stat` after the command name.
struct Stat {
    utime: f64,
    stime: f64,
    threads: f64,
    start_ticks: f64,
    vsize: f64,
    rss_pages: f64,
}

fn read_stat() -> Option<Stat> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    // Indexes are the stat(5) field numbers minus 3.
    Some(Stat {
        utime: num(11)?,
        stime: num(12)?,
        threads: num(17)?,
        start_ticks: num(19)?,
        vsize: num(20)?,
        rss_pages: num(21)?,
    })
}

fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Open descriptors, not counting one opened to count them. Linux >= 6.2
/// gives the number as the size of `/proc/self/fd`: one `stat` instead of a
/// listing (12 ms per scrape at 10 000 followed files); older kernels say 0.
fn open_fds() -> Option<f64> {
    match std::fs::metadata("/proc/self/fd").ok()?.len() {
        0 => listed_fds(),
        n => Some(n as f64),
    }
}

fn listed_fds() -> Option<f64> {
    // The listing counts its own descriptor.
    Some(
        std::fs::read_dir("/proc/self/fd")
            .ok()?
            .count()
            .saturating_sub(1) as f64,
    )
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        if let Some(st) = read_stat() {
            let cpu = ConstCounter::new((st.utime + st.stime) / self.ticks_per_second);
            cpu.encode(enc.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                cpu.metric_type(),
            )?)?;
            gauge(
                &mut enc,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                st.rss_pages * self.page_size,
            )?;
            gauge(
                &mut enc,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                st.vsize,
            )?;
            gauge(
                &mut enc,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                self.boot_time + st.start_ticks / self.ticks_per_second,
            )?;
            gauge(
                &mut enc,
                "process_threads",
                "Number of OS threads in the process",
                st.threads,
            )?;
        }
        if let Some(n) = open_fds() {
            gauge(
                &mut enc,
                "process_open_fds",
                "Number of open file descriptors",
                n,
            )?;
        }
        if let Some(n) = max_fds() {
            gauge(
                &mut enc,
                "process_max_fds",
                "Maximum number of open file descriptors",
                n,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{listed_fds, open_fds, ProcessCollector};

    #[test]
    fn open_fds_from_the_size_of_proc_self_fd_equals_the_listing() {
        // Other tests open and close files meanwhile: compare only when
        // the listing is the same before and after.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let before = listed_fds();
            let fast = open_fds();
            let after = listed_fds();
            assert!(before.is_some_and(|n| n > 0.0), "{before:?}");
            if before == after && fast == before {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "size of /proc/self/fd {fast:?}, listing {before:?} then {after:?}"
            );
        }
    }

    #[test]
    fn constants_match_getconf() {
        let getconf = |name: &str| -> f64 {
            let out = std::process::Command::new("getconf")
                .arg(name)
                .output()
                .expect("getconf");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect(name)
        };
        let c = ProcessCollector::new();
        assert_eq!(
            (c.ticks_per_second, c.page_size),
            (getconf("CLK_TCK"), getconf("PAGESIZE"))
        );
    }
}
