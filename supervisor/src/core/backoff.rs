//! Restart delays: exponential growth up to a cap, spread by a deterministic jitter.
//!
//! Jitter keeps services that failed together (a shared dependency died) from
//! restarting in lockstep. It comes from a hash of a seed, the service and the restart
//! number rather than from a random generator, so the core stays a function of its
//! inputs: the daemon picks the seed at start-up, tests pick theirs.

use std::time::Duration;

use crate::manifest::Backoff;

/// Past this many failures the base delay is at its cap for any sane factor; capping the
/// exponent keeps powi finite.
const MAX_EXPONENT: u32 = 1_000;

/// The base delay before restart number `failures` (0 for the first restart):
/// min(cap, initial × factor^failures).
pub fn base_delay(backoff: &Backoff, failures: u32) -> Duration {
    let grown = backoff.initial.as_secs_f64() * backoff.factor.powi(failures.min(MAX_EXPONENT) as i32);
    Duration::from_secs_f64(grown.min(backoff.cap.as_secs_f64()))
}

/// The delay actually waited: the base delay moved by up to ±jitter of itself;
/// `unit` in [0, 1) picks where in that band.
pub fn jittered_delay(backoff: &Backoff, failures: u32, unit: f64) -> Duration {
    let base = base_delay(backoff, failures).as_secs_f64();
    let offset = base * backoff.jitter * (2.0 * unit - 1.0);
    Duration::from_secs_f64((base + offset).max(0.0))
}

/// A number in [0, 1) that depends only on its arguments.
pub fn jitter_unit(seed: u64, service: &str, restart: u64) -> f64 {
    let mixed = splitmix64(seed ^ fnv1a(service.as_bytes()) ^ splitmix64(restart));
    // The top 53 bits fill a double's mantissa exactly.
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

/// The finaliser of the SplitMix64 generator: a fast, well-spread 64-bit mix.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(initial_ms: u64, factor: f64, cap_ms: u64, jitter: f64) -> Backoff {
        let ms = Duration::from_millis;
        Backoff { initial: ms(initial_ms), factor, cap: ms(cap_ms), jitter, reset_after: ms(60_000) }
    }

    #[test]
    fn base_delays_grow_then_cap() {
        let cases: [(Backoff, &[u64]); 3] = [
            (backoff(500, 2.0, 10_000, 0.1), &[500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]),
            (backoff(100, 1.0, 10_000, 0.0), &[100, 100, 100]),
            (backoff(200, 3.0, 1_000, 0.5), &[200, 600, 1_000, 1_000]),
        ];
        for (spec, want) in cases {
            let got: Vec<u64> = (0..want.len() as u32).map(|n| base_delay(&spec, n).as_millis() as u64).collect();
            assert_eq!(got, want);
        }
        assert_eq!(base_delay(&backoff(500, 2.0, 10_000, 0.1), u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let spec = backoff(1_000, 2.0, 30_000, 0.1);
        for failures in 0..8 {
            let base = base_delay(&spec, failures).as_secs_f64();
            for restart in 0..200 {
                let delay = jittered_delay(&spec, failures, jitter_unit(7, "web", restart)).as_secs_f64();
                assert!(delay >= base * 0.9 - 1e-9 && delay <= base * 1.1 + 1e-9, "{failures}: {delay} vs {base}");
            }
        }
    }

    #[test]
    fn jitter_is_deterministic_and_spread() {
        assert_eq!(jitter_unit(1, "a", 3), jitter_unit(1, "a", 3));
        assert_ne!(jitter_unit(1, "a", 3), jitter_unit(1, "b", 3));
        assert_ne!(jitter_unit(1, "a", 3), jitter_unit(2, "a", 3));
        let units: Vec<f64> = (0..1_000).map(|n| jitter_unit(42, "svc", n)).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let low = units.iter().filter(|u| **u < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below 0.5");
    }

    #[test]
    fn no_jitter_is_exact() {
        let spec = backoff(500, 2.0, 10_000, 0.0);
        assert_eq!(jittered_delay(&spec, 2, 0.99), Duration::from_secs(2));
    }
}
