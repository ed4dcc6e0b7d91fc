//! Session retry timing (TR-069 §3.2.1.1, FACTS §7) and the session's random numbers.

use std::time::Duration;

pub(crate) use hal::retry::Rng;

/// `len` random bytes from `rng` as lower-case hex (message IDs, client nonces).
pub(crate) fn random_hex(rng: &mut Rng, len: usize) -> String {
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.truncate(len);
    crate::auth::hex(&bytes)
}

/// The bounds of the wait before retry `n` (1-based; capped at 10):
/// `[m·(k/1000)^(n−1), m·(k/1000)^n]` seconds with `m` = `CWMPRetryMinimumWaitInterval` (s)
/// and `k` = `CWMPRetryIntervalMultiplier` (‰), as [`hal::retry::window_ms`] computes it. `k`
/// is taken as given (TR-181 bounds it to 1000..65535 when it is written).
#[must_use]
pub fn retry_window(
    minimum_wait_secs: u32,
    multiplier_permille: u32,
    retry: u32,
) -> (Duration, Duration) {
    let (low, high) = hal::retry::window_ms(
        minimum_wait_ms(minimum_wait_secs),
        multiplier_permille,
        retry,
    );
    (Duration::from_millis(low), Duration::from_millis(high))
}

/// A random wait in [`retry_window`] (millisecond resolution).
pub(crate) fn retry_wait(
    minimum_wait_secs: u32,
    multiplier_permille: u32,
    retry: u32,
    rng: &mut Rng,
) -> Duration {
    Duration::from_millis(hal::retry::wait_ms(
        minimum_wait_ms(minimum_wait_secs),
        multiplier_permille,
        retry,
        rng.next_u64(),
    ))
}

fn minimum_wait_ms(secs: u32) -> u64 {
    u64::from(secs).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_of_facts_section_7() {
        let table = [
            (1, 5, 10),
            (2, 10, 20),
            (3, 20, 40),
            (4, 40, 80),
            (5, 80, 160),
            (6, 160, 320),
            (7, 320, 640),
            (8, 640, 1280),
            (9, 1280, 2560),
            (10, 2560, 5120),
            (11, 2560, 5120),
            (50, 2560, 5120),
        ];
        for (n, low, high) in table {
            assert_eq!(
                retry_window(5, 2000, n),
                (Duration::from_secs(low), Duration::from_secs(high)),
                "retry {n}"
            );
        }
    }

    #[test]
    fn waits_stay_in_the_window_and_vary() {
        let mut rng = Rng::new(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let wait = retry_wait(5, 2000, 3, &mut rng);
            assert!(wait >= Duration::from_secs(20) && wait <= Duration::from_secs(40));
            seen.insert(wait);
        }
        assert!(seen.len() > 50, "jitter");
    }

    #[test]
    fn extreme_parameters_saturate() {
        let (low, high) = retry_window(65535, 65535, 10);
        assert!(high >= low);
        let mut rng = Rng::new(0);
        let _ = retry_wait(65535, 65535, 10, &mut rng);
        assert_eq!(random_hex(&mut rng, 5).len(), 10);
    }
}
