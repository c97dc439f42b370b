//! CPU time of the process and of each thread, and peak memory, from
//! `getrusage` and `/proc` (Linux figures; elsewhere, none).

use super::*;

/// User+system CPU time of the process (Unix; zero elsewhere: the figures
/// are then not measured).
#[cfg(unix)]
pub(crate) fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

#[cfg(not(unix))]
pub(crate) fn process_cpu() -> Duration {
    Duration::ZERO
}

/// User+system CPU time of the calling thread (Linux; zero elsewhere).
#[cfg(target_os = "linux")]
pub(crate) fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn thread_cpu() -> Duration {
    Duration::ZERO
}

#[cfg(unix)]
pub(crate) fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of this process's threads whose name starts with `prefix`
/// (from /proc, in clock ticks).
#[cfg(not(unix))]
pub(crate) fn threads_cpu(_prefix: &str) -> Duration {
    Duration::ZERO
}

/// CPU time of this process's threads whose name starts with `prefix`
/// (from /proc, in clock ticks; Linux).
#[cfg(unix)]
pub(crate) fn threads_cpu(prefix: &str) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        if fields.len() > 12 {
            total +=
                fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
        }
    }
    Duration::from_secs_f64(total / ticks)
}

pub(crate) fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
