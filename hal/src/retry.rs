//! The randomised back-offs of TR-069 and TR-369 and of the MTPs' TR-181 rows, in
//! milliseconds. Each protocol keeps its own parameters, units and checks; only the
//! arithmetic lives here, saturating and bounded for any input (the parameters come from a
//! peer), with the seeded [`Rng`] the sans-IO stacks draw the jitter from.
//!
//! TR-181 gives two shapes, both growing with the retry number `n` (1-based) by the
//! multiplier `k` in thousandths:
//!
//! - A window, [`window_ms`] / [`wait_ms`]: retry `n` waits a random time in
//!   `[m·(k/1000)^(n−1), m·(k/1000)^n]`, `n` capped at 10. TR-069 session retry (§3.2.1.1,
//!   `CWMPRetryMinimumWaitInterval` / `CWMPRetryIntervalMultiplier`), USP NotifRetry
//!   (R-NOT.1, `Controller.{i}.USPNotifRetryMinimumWaitInterval` /
//!   `USPNotifRetryIntervalMultiplier`), E2E session and WebSocket reconnects
//!   (`Controller.{i}.MTP.{i}.WebSocket.SessionRetryMinimumWaitInterval` /
//!   `SessionRetryIntervalMultiplier`, no maximum), and MQTT reconnects
//!   (`MQTT.Client.{i}.ConnectRetryTime` / `ConnectRetryIntervalMultiplier`), where a drawn
//!   wait above `ConnectRetryMaxInterval` waits that maximum.
//! - A ceiling, [`ceiling_ms`] / [`ceiling_wait_ms`]: reconnect `n` waits a random time in
//!   `[0, I·(k/1000)^(n−1)]`, and `max` when the drawn wait is above it: STOMP
//!   (`STOMP.Connection.{i}.ServerRetryInitialInterval` / `ServerRetryIntervalMultiplier` /
//!   `ServerRetryMaxInterval`, `n` capped at 10) and XMPP (`XMPP.Connection.{i}.ServerRetry*`,
//!   the same names, `n` not capped: only `ServerRetryMaxInterval` stops the growth).

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

/// The retry number past which a window (and STOMP's ceiling) stops growing: "the max
/// number of n is 10" (MQTT `ConnectRetryTime`; TR-069 §3.2.1.1 and R-NOT.1 alike).
pub const MAX_RETRY: u32 = 10;

/// `start·(k/1000)^steps`, rounded down at each step, saturating at `u64::MAX`. It stops
/// once a step changes nothing (`k` = 1000, saturation, or a value too small to grow), so any
/// `steps` costs at most a few tens of thousands of steps.
fn grown(start: u64, multiplier_permille: u32, steps: u32) -> u64 {
    let mut value = start;
    for _ in 0..steps {
        let next = u128::from(value) * u128::from(multiplier_permille) / 1000;
        let next = u64::try_from(next).unwrap_or(u64::MAX);
        if next == value {
            break;
        }
        value = next;
    }
    value
}

/// A value in `[low, high]` (`low` if `high < low`), uniform up to modulo bias, picked by
/// `random`.
fn pick(low: u64, high: u64, random: u64) -> u64 {
    let offset = match high.saturating_sub(low).checked_add(1) {
        Some(choices) => random % choices,
        None => random,
    };
    low.saturating_add(offset)
}

/// The window `(low, high)` of the wait before retry `retry`, in milliseconds:
/// `[m·(k/1000)^(n−1), m·(k/1000)^n]` with `m` = `minimum_wait_ms`, `k` =
/// `multiplier_permille` and `n` = `retry` clamped to `1..=`[`MAX_RETRY`]. Each step rounds
/// down to the millisecond; a `k` below 1000 gives `high < low`, which callers that accept
/// such a `k` must handle ([`wait_ms`] then waits `low`).
#[must_use]
pub fn window_ms(minimum_wait_ms: u64, multiplier_permille: u32, retry: u32) -> (u64, u64) {
    let low = grown(
        minimum_wait_ms,
        multiplier_permille,
        retry.clamp(1, MAX_RETRY) - 1,
    );
    (low, grown(low, multiplier_permille, 1))
}

/// A wait in [`window_ms`], uniform (up to modulo bias) over its milliseconds, picked by
/// `random` (the caller's seeded generator: sans-IO crates get randomness injected).
#[must_use]
pub fn wait_ms(minimum_wait_ms: u64, multiplier_permille: u32, retry: u32, random: u64) -> u64 {
    let (low, high) = window_ms(minimum_wait_ms, multiplier_permille, retry);
    pick(low, high, random)
}

/// How far a [`ceiling_ms`] grows with the reconnect number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Growth {
    /// Up to reconnect [`MAX_RETRY`]: STOMP's `ServerRetryIntervalMultiplier` "reaches its
    /// upper limit at 10 reconnection attempts".
    UpToMaxRetry,
    /// With every reconnect: XMPP's `ServerRetry*` have no such limit.
    Unlimited,
}

/// The ceiling `I·(k/1000)^(n−1)` of reconnect wait `retry`, in milliseconds, with `I` =
/// `initial_ms`, `k` = `multiplier_permille` and `n` = `retry` (0 counts as 1) as far as
/// `growth` lets it grow. A `k` below 1000, outside the parameters' range, counts as 1000.
#[must_use]
pub fn ceiling_ms(initial_ms: u64, multiplier_permille: u32, retry: u32, growth: Growth) -> u64 {
    let n = match growth {
        Growth::UpToMaxRetry => retry.min(MAX_RETRY),
        Growth::Unlimited => retry,
    };
    grown(
        initial_ms,
        multiplier_permille.max(1000),
        n.saturating_sub(1),
    )
}

/// A reconnect wait in `[0, `[`ceiling_ms`]`]` picked by `random`, and `max_ms` when it picks
/// more: "if the nth reconnection wait interval calculated from `ServerRetryInitialInterval`
/// and `ServerRetryIntervalMultiplier` exceeds `ServerRetryMaxInterval`, then the Agent
/// MUST use the value of this parameter as the next reconnection wait interval".
#[must_use]
pub fn ceiling_wait_ms(
    initial_ms: u64,
    multiplier_permille: u32,
    retry: u32,
    growth: Growth,
    max_ms: u64,
    random: u64,
) -> u64 {
    let ceiling = ceiling_ms(initial_ms, multiplier_permille, retry, growth);
    pick(0, ceiling, random).min(max_ms)
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
        assert_eq!(
            window_ms(u64::MAX, u32::MAX, u32::MAX),
            (u64::MAX, u64::MAX)
        );
        assert_eq!(wait_ms(u64::MAX, u32::MAX, 10, 12_345), u64::MAX);
        let (low, high) = window_ms(65_535_000, 65_535, 10);
        assert!(high >= low);
        assert_eq!(window_ms(0, 2000, 3), (0, 0));
    }

    /// Seconds to milliseconds.
    const S: u64 = 1000;

    #[test]
    fn stomp_ceilings_stop_growing_at_the_tenth_reconnect() {
        // ServerRetryIntervalMultiplier: `I·(k/1000)^(n−1)`, "if the number of reconnection
        // attempts exceeds 10, ... ServerRetryInitialInterval · (k/1000)^(10 − 1)"; the
        // defaults 60 s and 2000.
        let seconds: Vec<u64> = (1..=13)
            .map(|n| ceiling_ms(60 * S, 2000, n, Growth::UpToMaxRetry) / S)
            .collect();
        let expected = [60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720];
        assert_eq!(seconds[..10], expected);
        assert_eq!(seconds[10..], [30720; 3]);
        assert_eq!(ceiling_ms(60 * S, 2000, 0, Growth::UpToMaxRetry), 60 * S);
        assert_eq!(
            ceiling_ms(60 * S, 2000, u32::MAX, Growth::UpToMaxRetry),
            30720 * S
        );
    }

    #[test]
    fn xmpp_ceilings_grow_to_the_max_interval() {
        // XMPP ServerConnectAttempts: with the defaults (60 s, 2000, 30720 s) the maximum
        // waits are {1, 2, 4, … 512, 512, 512, 512, 512, 512} minutes over 15 reconnects.
        let minutes: Vec<u64> = (1..=15)
            .map(|n| ceiling_ms(60 * S, 2000, n, Growth::Unlimited).min(30720 * S) / (60 * S))
            .collect();
        let expected = [
            1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512, 512, 512, 512,
        ];
        assert_eq!(minutes, expected);
        // Unlike STOMP's, the ceiling goes on past the tenth reconnect.
        assert_eq!(ceiling_ms(S, 2000, 11, Growth::Unlimited), 1024 * S);
        assert_eq!(ceiling_ms(S, 2000, 11, Growth::UpToMaxRetry), 512 * S);
        assert_eq!(ceiling_ms(S, 1500, 5, Growth::Unlimited), 5062);
    }

    #[test]
    fn ceiling_waits_are_drawn_from_zero_and_held_to_the_max() {
        // The first wait: "a random value between 0 and ServerRetryInitialInterval".
        let first =
            |random| ceiling_wait_ms(60 * S, 2000, 1, Growth::UpToMaxRetry, 30720 * S, random);
        assert_eq!(first(0), 0);
        assert_eq!(first(60 * S), 60 * S);
        assert_eq!(first(60 * S + 1), 0);
        assert_eq!(first(12_345), 12_345);
        // A drawn wait above ServerRetryMaxInterval waits the max, also one below the
        // initial interval.
        let short_max =
            |random| ceiling_wait_ms(60 * S, 2000, 1, Growth::Unlimited, 10 * S, random);
        assert_eq!(short_max(9_999), 9_999);
        assert_eq!(short_max(10 * S), 10 * S);
        assert_eq!(short_max(59_999), 10 * S);
        assert_eq!(short_max(60 * S + 1), 0);
    }

    #[test]
    fn ceilings_stay_bounded_for_any_input() {
        // Multiplier 1.000: the same ceiling forever, at once even for the last retry count.
        for growth in [Growth::UpToMaxRetry, Growth::Unlimited] {
            for n in [1, 2, 11, u32::MAX] {
                assert_eq!(ceiling_ms(60 * S, 1000, n, growth), 60 * S);
                // Below the range it counts as 1000: the ceiling never shrinks.
                assert_eq!(ceiling_ms(60 * S, 0, n, growth), 60 * S);
            }
        }
        // The largest parameters saturate instead of wrapping.
        let huge = ceiling_ms(65_535 * S, 65_535, u32::MAX, Growth::Unlimited);
        assert_eq!(huge, u64::MAX);
        assert_eq!(
            ceiling_wait_ms(
                65_535 * S,
                65_535,
                u32::MAX,
                Growth::Unlimited,
                u64::MAX,
                u64::MAX
            ),
            u64::MAX
        );
        let max = u64::from(u32::MAX) * S;
        let wait = ceiling_wait_ms(u64::MAX, u32::MAX, u32::MAX, Growth::Unlimited, max, 7);
        assert_eq!(wait, 7);
        // The slowest growth still reaches saturation, in a bounded number of steps.
        assert_eq!(ceiling_ms(S, 1001, u32::MAX, Growth::Unlimited), u64::MAX);
        // A ceiling of 0 ms, or one too small to grow, waits 0.
        assert_eq!(ceiling_wait_ms(0, 65_535, 5, Growth::Unlimited, S, 99), 0);
        assert_eq!(ceiling_ms(1, 1001, u32::MAX, Growth::Unlimited), 1);
    }
}
