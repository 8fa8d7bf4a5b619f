//! Unescaping into the request arena.
//!
//! Tokens without a backslash are returned as borrowed slices of the body;
//! only a token that has one is copied, once, into the arena. InfluxDB 1.x
//! unescapes differently per position, and we follow it:
//! measurement and field keys drop the backslash before `,` space `=` `"`;
//! tag keys and values before `,` space `=`; string values before `\` and `"`.
//! A backslash before any other byte is kept.

use bumpalo::Bump;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escapes {
    /// Measurement names and field keys.
    NameOrFieldKey,
    /// Tag keys and tag values.
    Tag,
    /// Double-quoted string field values.
    StringValue,
}

impl Escapes {
    #[inline]
    fn drops_backslash_before(self, b: u8) -> bool {
        match self {
            Escapes::NameOrFieldKey => matches!(b, b',' | b' ' | b'=' | b'"'),
            Escapes::Tag => matches!(b, b',' | b' ' | b'='),
            Escapes::StringValue => matches!(b, b'\\' | b'"'),
        }
    }
}

/// Removes the escapes of `raw` (which the caller knows holds a backslash).
pub fn unescape<'a>(raw: &str, escapes: Escapes, arena: &'a Bump) -> &'a str {
    let bytes = raw.as_bytes();
    let mut out = bumpalo::collections::Vec::with_capacity_in(bytes.len(), arena);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && i + 1 < bytes.len() && escapes.drops_backslash_before(bytes[i + 1]) {
            out.push(bytes[i + 1]);
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let out = out.into_bump_slice();
    debug_assert!(std::str::from_utf8(out).is_ok());
    // SAFETY: `raw` is UTF-8 and only ASCII backslashes that precede an ASCII
    // byte were removed, so no multi-byte sequence was split.
    unsafe { std::str::from_utf8_unchecked(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_table() {
        let arena = Bump::new();
        let table = [
            (r"a\,b\ c\=d", Escapes::Tag, "a,b c=d"),
            (r#"a\"b"#, Escapes::Tag, r#"a\"b"#),
            (r#"a\"b\,c"#, Escapes::NameOrFieldKey, r#"a"b,c"#),
            (r"a\\b", Escapes::Tag, r"a\\b"),
            (r"a\\,b", Escapes::Tag, r"a\,b"),
            (r"a\xb", Escapes::NameOrFieldKey, r"a\xb"),
            (r"trailing\", Escapes::Tag, r"trailing\"),
            (r#"say \"hi\""#, Escapes::StringValue, r#"say "hi""#),
            (r"c:\\dir\file", Escapes::StringValue, r"c:\dir\file"),
            (r"\,", Escapes::StringValue, r"\,"),
            (r"é\ ü", Escapes::Tag, "é ü"),
        ];
        for (raw, escapes, expected) in table {
            assert_eq!(
                unescape(raw, escapes, &arena),
                expected,
                "{raw} {escapes:?}"
            );
        }
    }
}
