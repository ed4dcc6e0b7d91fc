//! The randomised exponential back-off both protocols retry with: TR-069 session retry
//! (§3.2.1.1, `CWMPRetryMinimumWaitInterval` / `CWMPRetryIntervalMultiplier`) and TR-369
//! NotifRetry (R-NOT.1) and E2E session retry (R-E2E.10, `SessionRetry*`).
//!
//! Retry `n` (1-based, the exponent capped at 10) waits a random time in
//! `[m·(k/1000)^(n−1), m·(k/1000)^n]`, with `m` the minimum wait and `k` the multiplier in
//! thousandths. Each protocol keeps its own parameters, units and checks of `k`; only the
//! arithmetic lives here, in milliseconds, saturating (the parameters come from a peer), with
//! the seeded [`Rng`] both draw the jitter from.

/// A small xorshift64* generator seeded by the caller, for retry jitter and the protocol
/// stacks' other non-secret random numbers (message and session IDs, HTTP client nonces):
/// sans-IO crates take randomness as a seed, which the driver draws from the platform's
/// entropy. It is unpredictable to a network observer only as far as the seed is.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The retry number past which the window stops growing.
const MAX_EXPONENT: u32 = 10;

/// The window `(low, high)` of the wait before retry `retry`, in milliseconds:
/// `[m·(k/1000)^(n−1), m·(k/1000)^n]` with `m` = `minimum_wait_ms`, `k` =
/// `multiplier_permille` and `n` = `retry` clamped to `1..=10`. Each step rounds down to the
/// millisecond; a `k` below 1000 gives `high < low`, which callers that accept such a `k` must
/// handle ([`wait_ms`] then waits `low`).
#[must_use]
pub fn window_ms(minimum_wait_ms: u64, multiplier_permille: u32, retry: u32) -> (u64, u64) {
    let k = u64::from(multiplier_permille);
    let mut low = minimum_wait_ms;
    for _ in 1..retry.clamp(1, MAX_EXPONENT) {
        low = low.saturating_mul(k) / 1000;
    }
    (low, low.saturating_mul(k) / 1000)
}

/// A wait in [`window_ms`], uniform (up to modulo bias) over its milliseconds, picked by
/// `random` (the caller's seeded generator: sans-IO crates get randomness injected).
#[must_use]
pub fn wait_ms(minimum_wait_ms: u64, multiplier_permille: u32, retry: u32, random: u64) -> u64 {
    let (low, high) = window_ms(minimum_wait_ms, multiplier_permille, retry);
    let offset = match high.saturating_sub(low).checked_add(1) {
        Some(choices) => random % choices,
        None => random,
    };
    low.saturating_add(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_gives_a_varying_sequence() {
        for seed in [0, 1, u64::MAX] {
            let mut rng = Rng::new(seed);
            let values: std::collections::BTreeSet<u64> =
                (0..100).map(|_| rng.next_u64()).collect();
            assert_eq!(values.len(), 100, "seed {seed}");
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn waits_stay_in_the_window() {
        for random in [0, 1, 4_999, 5_000, 5_001, u64::MAX] {
            let wait = wait_ms(5_000, 2000, 1, random);
            assert!((5_000..=10_000).contains(&wait), "{random}: {wait}");
        }
        assert_eq!(wait_ms(5_000, 2000, 1, 0), 5_000);
        assert_eq!(wait_ms(5_000, 2000, 1, 5_000), 10_000);
        assert_eq!(wait_ms(5_000, 2000, 1, 5_001), 5_000);
    }

    #[test]
    fn a_shrinking_multiplier_waits_the_low_bound() {
        assert_eq!(window_ms(5_000, 500, 2), (2_500, 1_250));
        assert_eq!(wait_ms(5_000, 500, 2, 12_345), 2_500);
    }

    #[test]
    fn extreme_parameters_saturate() {
        let (low, high) = window_ms(u64::MAX, u32::MAX, u32::MAX);
        assert_eq!((low, high), (u64::MAX / 1000, u64::MAX / 1000));
        assert_eq!(wait_ms(u64::MAX, u32::MAX, 10, u64::MAX), u64::MAX / 1000);
        let (low, high) = window_ms(65_535_000, 65_535, 10);
        assert!(high >= low);
        assert_eq!(window_ms(0, 2000, 3), (0, 0));
    }
}
