//! Writing points back as line protocol: the inverse of the parser, used by
//! the round-trip tests and by anything that forwards points.
//!
//! Every byte that the parser would unescape in a position is escaped there,
//! so a backslash followed by such a byte survives too. One thing has no
//! spelling in line protocol: a key or tag value that ends in a backslash
//! (the backslash would escape the delimiter after it); [`write_point`]
//! refuses it rather than write a line that reads back differently.

use std::fmt::Write;

use super::{FieldValue, Point};

#[derive(Debug, PartialEq, Eq)]
pub struct Unrepresentable(pub String);

fn write_escaped(out: &mut String, s: &str, special: &[u8]) -> Result<(), Unrepresentable> {
    if s.is_empty() || s.ends_with('\\') {
        return Err(Unrepresentable(s.to_owned()));
    }
    for c in s.chars() {
        if c.is_ascii() && special.contains(&(c as u8)) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(())
}

/// Appends `point` and a newline to `out`. The timestamp is in nanoseconds.
pub fn write_point(out: &mut String, point: &Point<'_>) -> Result<(), Unrepresentable> {
    const NAME: &[u8] = b", =\"";
    const TAG: &[u8] = b", =";
    // A leading `#` reads as a comment and leading blanks are skipped.
    if point.measurement.starts_with(['#', '\t', '\0']) {
        return Err(Unrepresentable(point.measurement.to_owned()));
    }
    write_escaped(out, point.measurement, NAME)?;
    for tag in point.tags {
        out.push(',');
        write_escaped(out, tag.key, TAG)?;
        out.push('=');
        write_escaped(out, tag.value, TAG)?;
    }
    for (k, field) in point.fields.iter().enumerate() {
        out.push(if k == 0 { ' ' } else { ',' });
        write_escaped(out, field.key, NAME)?;
        out.push('=');
        // Writing to a String cannot fail.
        let _ = match field.value {
            FieldValue::Float(x) if !x.is_finite() => return Err(Unrepresentable(x.to_string())),
            FieldValue::Float(x) => write!(out, "{x:?}"),
            FieldValue::Integer(x) => write!(out, "{x}i"),
            FieldValue::Unsigned(x) => write!(out, "{x}u"),
            FieldValue::Boolean(x) => write!(out, "{x}"),
            FieldValue::String(s) => {
                out.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
                Ok(())
            }
        };
    }
    if let Some(ts) = point.timestamp {
        let _ = write!(out, " {ts}");
    }
    out.push('\n');
    Ok(())
}
