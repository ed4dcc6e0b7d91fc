//! The shared retry window against the interval table of `../shared/spec/cwmp/FACTS.md` §7
//! (TR-069 §3.2.1.1 with the default `m` = 5 s and `k` = 2000; TR-369 R-NOT.1 uses the same
//! formula and defaults).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use hal::retry::{wait_ms, window_ms};

/// The rows of the "Post-reboot retry count | Wait range (s)" table: (retry, whether the row
/// holds for later retries too, low, high).
fn facts_table() -> Vec<(u32, bool, u64, u64)> {
    let facts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/cwmp/FACTS.md");
    let text = std::fs::read_to_string(&facts).expect("shared/spec/cwmp next to the repository");
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("| Post-reboot retry count | Wait range (s) |"))
        .skip(2);
    let mut rows = Vec::new();
    while let Some(line) = lines.next().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (retry, range) = (cells[1], cells[2]);
        let later = retry.ends_with("and later");
        let retry = retry.trim_end_matches("and later").trim().parse().unwrap();
        let (low, high) = range.split_once('–').expect("low–high");
        rows.push((retry, later, low.parse().unwrap(), high.parse().unwrap()));
    }
    rows
}

#[test]
fn default_windows_follow_the_facts_table() {
    let table = facts_table();
    assert_eq!(table.len(), 10, "retries 1 to 10 and later");
    for (retry, later, low, high) in table {
        let retries = if later {
            vec![retry, retry + 1, 50, u32::MAX]
        } else {
            vec![retry]
        };
        for n in retries {
            assert_eq!(
                window_ms(5_000, 2000, n),
                (low * 1000, high * 1000),
                "retry {n}"
            );
            for random in [0, 1, 7_777_777, u64::MAX] {
                let wait = wait_ms(5_000, 2000, n, random);
                assert!((low * 1000..=high * 1000).contains(&wait), "retry {n}");
            }
        }
    }
    assert_eq!(window_ms(5_000, 2000, 0), window_ms(5_000, 2000, 1));
}
