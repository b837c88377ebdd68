//! Memory per entry: a million entries of 20-byte keys and 100-byte values,
//! in `mem://` and in moka.
//!
//! Each cache is filled in a child process of its own (this program, run
//! with `--footprint-child <cache> <entries>`), which reports how much its
//! resident memory grew: a fresh process so that neither cache reuses what
//! the other freed, and resident memory rather than a counting allocator
//! so that the allocator's own overhead counts, and so that no counter
//! shared by every thread slows down the other rows.

use std::process::Command;
use std::time::Duration;

use crate::report::Report;

/// The flag that makes this program a footprint child.
pub(crate) const CHILD_FLAG: &str = "--footprint-child";

fn key(i: u64) -> String {
    // 20 bytes: "key:" and 16 digits.
    format!("key:{i:016}")
}

/// Resident memory of this process, from `/proc/self/status` (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The child: fills one cache, prints the growth of resident memory in
/// bytes per entry on stdout.
pub(crate) fn child(which: &str, entries: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let value = "v".repeat(100);
    let ttl = Duration::from_secs(3600);
    let before = resident_bytes().expect("/proc/self/status");
    let after = rt.block_on(async {
        match which {
            "cashews" => {
                let cache = cashews::Cache::from_url(&format!("mem://?size={entries}")).unwrap();
                for i in 0..entries {
                    cache.set(&key(i), &value, ttl).await.unwrap();
                }
                assert_eq!(
                    cache.get_keys_count().await.unwrap(),
                    entries,
                    "every entry kept"
                );
                let after = resident_bytes();
                drop(cache);
                after
            }
            "moka" => {
                let moka: moka::future::Cache<String, String> = moka::future::Cache::builder()
                    .max_capacity(entries)
                    .time_to_live(ttl)
                    .build();
                for i in 0..entries {
                    moka.insert(key(i), value.clone()).await;
                }
                moka.run_pending_tasks().await;
                assert_eq!(moka.entry_count(), entries, "every entry kept");
                resident_bytes()
            }
            other => panic!("no cache named {other}"),
        }
    });
    let after = after.expect("/proc/self/status");
    println!("{}", after.saturating_sub(before) as f64 / entries as f64);
}

pub(crate) fn per_entry(entries: u64, report: &mut Report) {
    if resident_bytes().is_none() {
        report.note("memory per entry: skipped, /proc/self/status is not readable (Linux only)");
        return;
    }
    for (which, label) in [
        ("cashews", "cashews mem://"),
        ("moka", "moka::future::Cache"),
    ] {
        let exe = std::env::current_exe().expect("the path of this program");
        let out = Command::new(exe)
            .args([CHILD_FLAG, which, &entries.to_string()])
            .output();
        let figure = out
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<f64>().ok());
        match figure {
            Some(bytes) => report.add(
                &format!("memory_per_entry/{which}"),
                format!("{label} ({entries} entries, 1h ttl), resident"),
                bytes,
                "bytes/entry",
            ),
            None => report.note(format!("memory per entry: the {which} child failed")),
        }
    }
}
