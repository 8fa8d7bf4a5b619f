//! Line-protocol errors: one per rejected line, plus the one that rejects a body.
//!
//! Messages follow InfluxDB 1.x word for word (`unable to parse '<line>': <reason>`),
//! because clients and people grep for them; the table in `testdata/` records
//! what InfluxDB itself answers for each case.

use std::fmt;

/// Why one line was rejected. Values that explain the error travel with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineErrorKind {
    MissingMeasurement,
    MissingFields,
    MissingTagKey,
    MissingTagValue,
    InvalidTagFormat,
    DuplicateTags,
    MissingFieldKey,
    MissingFieldValue,
    InvalidFieldFormat,
    UnbalancedQuotes,
    InvalidNumber,
    InvalidFloat,
    InvalidBoolean,
    /// The digits of an `i` value outside the i64 range.
    IntegerOutOfRange(String),
    /// The digits of a `u` value outside the u64 range.
    UnsignedOutOfRange(String),
    BadTimestamp,
    /// A timestamp with no digits (`-`).
    TimestampSyntax(String),
    /// A timestamp that does not fit in an i64 before precision is applied.
    TimestampOverflow(String),
    /// A timestamp outside what InfluxDB can store once scaled to nanoseconds.
    TimeOutOfRange,
    /// Something other than spaces after the timestamp.
    TrailingGarbage,
    /// A line longer than the server's `--max-line-length`.
    LineTooLong {
        length: usize,
        limit: usize,
    },
    /// The measurement plus tags is longer than InfluxDB's series-key limit.
    KeyTooLong(usize),
    /// A tag key spelled `time`, which InfluxDB reserves.
    TimeTagKey {
        measurement: String,
    },
    /// A field key spelled `time`, which InfluxDB reserves.
    TimeFieldKey {
        measurement: String,
    },
}

/// The series-key limit InfluxDB enforces (measurement, tags and one field key).
pub const MAX_KEY_LENGTH: usize = 65535;
/// InfluxDB's storable time range in nanoseconds.
pub const MIN_NANO_TIME: i64 = i64::MIN + 2;
pub const MAX_NANO_TIME: i64 = i64::MAX - 1;

impl fmt::Display for LineErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LineErrorKind::*;
        match self {
            MissingMeasurement => f.write_str("missing measurement"),
            MissingFields => f.write_str("missing fields"),
            MissingTagKey => f.write_str("missing tag key"),
            MissingTagValue => f.write_str("missing tag value"),
            InvalidTagFormat => f.write_str("invalid tag format"),
            DuplicateTags => f.write_str("duplicate tags"),
            MissingFieldKey => f.write_str("missing field key"),
            MissingFieldValue => f.write_str("missing field value"),
            InvalidFieldFormat => f.write_str("invalid field format"),
            UnbalancedQuotes => f.write_str("unbalanced quotes"),
            InvalidNumber => f.write_str("invalid number"),
            InvalidFloat => f.write_str("invalid float"),
            InvalidBoolean => f.write_str("invalid boolean"),
            IntegerOutOfRange(digits) => write!(
                f,
                "unable to parse integer {digits}: strconv.ParseInt: parsing \"{digits}\": value out of range"
            ),
            UnsignedOutOfRange(digits) => write!(
                f,
                "unable to parse unsigned {digits}: strconv.ParseUint: parsing \"{digits}\": value out of range"
            ),
            BadTimestamp => f.write_str("bad timestamp"),
            TimestampSyntax(text) => {
                write!(f, "strconv.ParseInt: parsing \"{text}\": invalid syntax")
            }
            TimestampOverflow(text) => {
                write!(f, "strconv.ParseInt: parsing \"{text}\": value out of range")
            }
            TimeOutOfRange => write!(f, "time outside range {MIN_NANO_TIME} - {MAX_NANO_TIME}"),
            TrailingGarbage => f.write_str("point is invalid"),
            LineTooLong { length, limit } => {
                write!(f, "line too long: {length} bytes, the limit is {limit}")
            }
            KeyTooLong(len) => write!(f, "max key length exceeded: {len} > {MAX_KEY_LENGTH}"),
            TimeTagKey { measurement } => write!(
                f,
                "invalid tag key: input tag \"time\" on measurement \"{measurement}\" is invalid"
            ),
            TimeFieldKey { measurement } => write!(
                f,
                "invalid field name: input field \"time\" on measurement \"{measurement}\" is invalid"
            ),
        }
    }
}

/// One rejected line: where it was, what it said, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError<'a> {
    /// 1-based number of the physical line the rejected point starts on.
    pub line: usize,
    /// The line as sent, without its line ending (a quoted string can span lines).
    pub text: &'a str,
    pub kind: LineErrorKind,
}

impl fmt::Display for LineError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            // InfluxDB reports these from its storage layer, without the line.
            LineErrorKind::TimeTagKey { .. } | LineErrorKind::TimeFieldKey { .. } => {
                write!(f, "{}", self.kind)
            }
            _ => write!(f, "unable to parse '{}': {}", self.text, self.kind),
        }
    }
}

/// A body rejected as a whole, before any line is looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The body is not UTF-8; `line` and `offset` locate the first bad byte.
    InvalidUtf8 { line: usize, offset: usize },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::InvalidUtf8 { line, offset } => write!(
                f,
                "unable to parse body: invalid UTF-8 at line {line}, byte offset {offset}"
            ),
        }
    }
}

impl std::error::Error for BodyError {}
