//! Timestamp precision: the `precision` parameter and scaling to nanoseconds.
//!
//! With no precision given, hydrant guesses per timestamp from its magnitude as
//! InfluxDB 3 does, so clients that send seconds without saying so still land
//! in the right century.

use super::error::{LineErrorKind, MAX_NANO_TIME, MIN_NANO_TIME};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    /// Decide per timestamp by magnitude (InfluxDB 3's rule).
    Auto,
}

impl Precision {
    /// Parses the `precision` query parameter; `None` for a spelling InfluxDB
    /// does not know. The empty string means "not given".
    pub fn from_param(value: &str) -> Option<Precision> {
        Some(match value {
            "" => Precision::Auto,
            "n" | "ns" => Precision::Nanosecond,
            "u" | "us" => Precision::Microsecond,
            "ms" => Precision::Millisecond,
            "s" => Precision::Second,
            "m" => Precision::Minute,
            "h" => Precision::Hour,
            _ => return None,
        })
    }

    /// Nanoseconds per unit.
    pub fn multiplier(self) -> i64 {
        match self {
            Precision::Nanosecond | Precision::Auto => 1,
            Precision::Microsecond => 1_000,
            Precision::Millisecond => 1_000_000,
            Precision::Second => 1_000_000_000,
            Precision::Minute => 60_000_000_000,
            Precision::Hour => 3_600_000_000_000,
        }
    }

    /// The unit InfluxDB 3 assumes for `ts` when none is given: with
    /// v = |ts| / 1e9, v < 5 → s, v < 5 000 → ms, v < 5 000 000 → us, else ns.
    pub fn detect(ts: i64) -> Precision {
        match ts.unsigned_abs() / 1_000_000_000 {
            0..=4 => Precision::Second,
            5..=4_999 => Precision::Millisecond,
            5_000..=4_999_999 => Precision::Microsecond,
            _ => Precision::Nanosecond,
        }
    }

    /// Scales `ts` to nanoseconds, rejecting what InfluxDB cannot store.
    #[inline(always)]
    pub fn to_nanos(self, ts: i64) -> Result<i64, LineErrorKind> {
        let unit = match self {
            Precision::Auto => Precision::detect(ts),
            other => other,
        };
        match ts.checked_mul(unit.multiplier()) {
            Some(ns) if (MIN_NANO_TIME..=MAX_NANO_TIME).contains(&ns) => Ok(ns),
            _ => Err(LineErrorKind::TimeOutOfRange),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_spellings() {
        let table = [
            ("", Some(Precision::Auto)),
            ("n", Some(Precision::Nanosecond)),
            ("ns", Some(Precision::Nanosecond)),
            ("u", Some(Precision::Microsecond)),
            ("us", Some(Precision::Microsecond)),
            ("ms", Some(Precision::Millisecond)),
            ("s", Some(Precision::Second)),
            ("m", Some(Precision::Minute)),
            ("h", Some(Precision::Hour)),
            ("d", None),
            ("NS", None),
            ("x", None),
        ];
        for (param, expected) in table {
            assert_eq!(Precision::from_param(param), expected, "{param:?}");
        }
    }

    #[test]
    fn auto_detection_boundaries() {
        let table: [(i64, i64); 12] = [
            (0, 0),
            (1, 1_000_000_000),
            (4_999_999_999, 4_999_999_999_000_000_000),
            (5_000_000_000, 5_000_000_000_000_000),
            (-5_000_000_000, -5_000_000_000_000_000),
            (1_700_000_000, 1_700_000_000_000_000_000),
            (1_700_000_000_000, 1_700_000_000_000_000_000),
            (4_999_999_999_999, 4_999_999_999_999_000_000),
            (5_000_000_000_000, 5_000_000_000_000_000),
            (1_700_000_000_000_000, 1_700_000_000_000_000_000),
            (4_999_999_999_999_999, 4_999_999_999_999_999_000),
            (5_000_000_000_000_000, 5_000_000_000_000_000),
        ];
        for (ts, ns) in table {
            assert_eq!(Precision::Auto.to_nanos(ts), Ok(ns), "{ts}");
        }
        assert_eq!(
            Precision::Auto.to_nanos(i64::MIN),
            Err(LineErrorKind::TimeOutOfRange)
        );
        assert_eq!(
            Precision::Auto.to_nanos(i64::MAX),
            Err(LineErrorKind::TimeOutOfRange)
        );
    }

    #[test]
    fn explicit_precision_scales_and_checks_range() {
        assert_eq!(Precision::Hour.to_nanos(2), Ok(7_200_000_000_000));
        assert_eq!(Precision::Minute.to_nanos(-1), Ok(-60_000_000_000));
        assert_eq!(
            Precision::Second.to_nanos(9_223_372_037),
            Err(LineErrorKind::TimeOutOfRange)
        );
        assert_eq!(
            Precision::Nanosecond.to_nanos(i64::MAX),
            Err(LineErrorKind::TimeOutOfRange)
        );
        assert_eq!(
            Precision::Nanosecond.to_nanos(MAX_NANO_TIME),
            Ok(MAX_NANO_TIME)
        );
        assert_eq!(
            Precision::Nanosecond.to_nanos(MIN_NANO_TIME),
            Ok(MIN_NANO_TIME)
        );
    }
}
