//! Time, in one place: the clock every layer reads (injected, so that tests set the time
//! instead of sleeping or rewriting policies), and the two textual forms paypki uses:
//! durations such as `24h` and RFC 3339 instants. It depends on nothing else in paypki,
//! so every layer may use it.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

/// Where "now" comes from (rustls' `TimeProvider`, Boulder's `clock.Clock`).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant, UTC.
    fn now(&self) -> OffsetDateTime;
}

/// A clock shared by the components of one server.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until told otherwise: for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    /// A clock showing `at`.
    pub fn at(at: OffsetDateTime) -> Arc<Self> {
        Arc::new(FixedClock(Mutex::new(at)))
    }

    /// Moves the clock by `by` (backwards when negative).
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }

    /// Sets the clock.
    pub fn set(&self, at: OffsetDateTime) {
        if let Ok(mut now) = self.0.lock() {
            *now = at;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
            .lock()
            .map(|now| *now)
            .unwrap_or_else(|_| OffsetDateTime::now_utc())
    }
}

/// RFC 3339 with second precision or better, as paypki prints instants everywhere.
pub fn format_time(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// Parses `90s`, `30m`, `24h`, `30d`, `2w` (1 to 100,000 of the unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: s, m, h, d or w (e.g. 24h, 30d)"))?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 24h or 30d"))?;
    let build: fn(i64) -> Duration = match unit {
        "s" => Duration::seconds,
        "m" => Duration::minutes,
        "h" => Duration::hours,
        "d" => Duration::days,
        "w" => Duration::weeks,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ))
        }
    };
    // Checked before building: `Duration::weeks` and friends panic when the count
    // overflows, and this text comes from the admin API (`ttl`, `expiring_within`).
    if n <= 0 || n > 100_000 {
        return Err(format!("{text:?} must be positive and reasonable"));
    }
    Ok(build(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let clock = FixedClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::days(2));
        assert_eq!(clock.now(), start + Duration::days(2));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::hours(24));
        assert_eq!(parse_duration("30d").unwrap(), Duration::days(30));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("3y").is_err());
        // Must be refused, not panic inside the time crate.
        assert!(parse_duration("9999999999999999w").is_err());
    }
}
