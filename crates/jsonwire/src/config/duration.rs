//! Durations in connection strings: a whole number with an optional unit, as Postgres writes
//! them in its own settings (`500ms`, `30s`, `5min`), plus `us` and `ns` so that any
//! `Duration` prints exactly and parses back.

use std::time::Duration;

/// Nanoseconds per unit, largest first.
const UNITS: [(&str, u128); 7] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("min", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// A bare number counts in seconds.
pub(super) const SECONDS: u128 = 1_000_000_000;
/// A bare number counts in milliseconds.
pub(super) const MILLIS: u128 = 1_000_000;

/// Whether `s` carries a unit (`10s`), as opposed to a bare number.
pub(super) fn has_unit(s: &str) -> bool {
    s.trim().ends_with(|c: char| c.is_ascii_alphabetic())
}

/// Parses `<digits>[unit]`, surrounding whitespace allowed; a bare number counts in `bare`
/// nanoseconds. `None` for anything else, or a value past `Duration::MAX`.
pub(super) fn parse(s: &str, bare: u128) -> Option<Duration> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number: u128 = s[..digits].parse().ok()?;
    let unit = s[digits..].trim_start();
    let per = if unit.is_empty() {
        bare
    } else {
        UNITS.iter().find(|(name, _)| *name == unit)?.1
    };
    let nanos = number.checked_mul(per)?;
    let secs = u64::try_from(nanos / SECONDS).ok()?;
    Some(Duration::new(secs, (nanos % SECONDS) as u32))
}

/// `d` as `parse` reads it back: a bare number when it is a whole number of `bare` units no
/// larger than `bare_max`, else in the largest unit that divides it.
pub(super) fn format(d: Duration, bare: u128, bare_max: u128) -> String {
    let nanos = d.as_nanos();
    if nanos % bare == 0 && nanos / bare <= bare_max {
        return (nanos / bare).to_string();
    }
    let (unit, per) = UNITS
        .iter()
        .find(|(_, per)| nanos % per == 0)
        .expect("every duration is a whole number of nanoseconds");
    format!("{}{unit}", nanos / per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_numbers() {
        assert_eq!(parse("1500", MILLIS), Some(Duration::from_millis(1500)));
        assert_eq!(parse(" 2 s ", MILLIS), Some(Duration::from_secs(2)));
        assert_eq!(parse("3min", MILLIS), Some(Duration::from_secs(180)));
        assert_eq!(parse("7", SECONDS), Some(Duration::from_secs(7)));
        assert_eq!(parse("5us", SECONDS), Some(Duration::from_micros(5)));
        for bad in [
            "",
            "s",
            "1.5s",
            "-1",
            "1 fortnight",
            "99999999999999999999999d",
        ] {
            assert_eq!(parse(bad, MILLIS), None, "{bad:?}");
        }
    }

    #[test]
    fn every_duration_prints_exactly() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1500),
            Duration::from_secs(90),
            Duration::from_nanos(1),
            Duration::new(5, 1),
            Duration::MAX,
        ] {
            for bare in [SECONDS, MILLIS] {
                let shown = format(d, bare, i32::MAX as u128);
                assert_eq!(parse(&shown, bare), Some(d), "{shown}");
            }
        }
        assert_eq!(format(Duration::from_secs(90), SECONDS, 100), "90");
        assert_eq!(format(Duration::from_secs(90), MILLIS, 100), "90s");
        assert_eq!(format(Duration::from_millis(1500), MILLIS, 10_000), "1500");
    }
}
