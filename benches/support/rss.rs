//! This process's resident set, from `/proc/self/status` (0 where there is none), for the
//! benches that report memory.

/// Resident set, KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident set, MiB.
#[allow(dead_code)]
pub fn rss_mib() -> f64 {
    rss_kib() as f64 / 1024.0
}
