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
    /// The bytes a backslash is dropped before, as a bit set over ASCII.
    #[inline]
    fn set(self) -> u128 {
        const fn bits(bytes: &[u8]) -> u128 {
            let (mut set, mut k) = (0u128, 0);
            while k < bytes.len() {
                set |= 1 << bytes[k];
                k += 1;
            }
            set
        }
        const NAME_OR_FIELD_KEY: u128 = bits(b", =\"");
        const TAG: u128 = bits(b", =");
        const STRING_VALUE: u128 = bits(b"\\\"");
        match self {
            Escapes::NameOrFieldKey => NAME_OR_FIELD_KEY,
            Escapes::Tag => TAG,
            Escapes::StringValue => STRING_VALUE,
        }
    }
}

/// Removes the escapes of `raw` (which the caller knows holds a backslash).
///
/// The token is copied into the arena whole (one `memcpy`), then compacted
/// in place from its first backslash on, a byte per step with no capacity or
/// bounds checks: tokens are short, so per-byte overhead is what counts.
pub fn unescape<'a>(raw: &str, escapes: Escapes, arena: &'a Bump) -> &'a str {
    let bytes = raw.as_bytes();
    let n = bytes.len();
    let set = escapes.set();
    let out = arena.alloc_slice_copy(bytes);
    let first = next_backslash(bytes, 0).unwrap_or(n);
    let (mut read, mut write) = (first, first);
    // SAFETY: `write <= read < n` at every access (a step reads one or two
    // bytes and writes one), and `out` and `bytes` are both `n` long.
    unsafe {
        let (src, dst) = (bytes.as_ptr(), out.as_mut_ptr());
        while read < n {
            let b = *src.add(read);
            if b == b'\\' && read + 1 < n {
                let next = *src.add(read + 1);
                // A dropped backslash: keep the byte after it, whatever it is.
                read += (next < 128 && (set >> next) & 1 != 0) as usize;
            }
            *dst.add(write) = *src.add(read);
            read += 1;
            write += 1;
        }
    }
    let out = &out[..write];
    debug_assert!(std::str::from_utf8(out).is_ok());
    // SAFETY: `raw` is UTF-8 and only ASCII backslashes that precede an ASCII
    // byte were removed, so no multi-byte sequence was split.
    unsafe { std::str::from_utf8_unchecked(out) }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Index of the first backslash among the eight bytes of `word` (first byte
/// lowest), or 8.
#[inline(always)]
fn backslash_index(word: u64) -> usize {
    let x = word ^ (ONES * b'\\' as u64);
    // The lowest flagged byte is the first zero byte of `x`, exactly.
    let zero = x.wrapping_sub(ONES) & !x & (ONES << 7);
    zero.trailing_zeros() as usize / 8
}

/// The first backslash at or after `i`, eight bytes at a time (tokens are
/// too short for `memchr`'s set-up to pay).
#[inline]
fn next_backslash(bytes: &[u8], mut i: usize) -> Option<usize> {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let k = backslash_index(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        if k < 8 {
            return Some(i + k);
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| b == b'\\')
        .map(|k| i + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backslash_index_on_every_lane() {
        for lane in 0..8 {
            for fill in [0u8, b'a', 0xff, b'\\' + 1, b'\\' - 1] {
                let mut bytes = [fill; 8];
                bytes[lane] = b'\\';
                assert_eq!(backslash_index(u64::from_le_bytes(bytes)), lane);
                // A later backslash does not move the first.
                bytes[7] = b'\\';
                assert_eq!(backslash_index(u64::from_le_bytes(bytes)), lane);
            }
        }
        assert_eq!(backslash_index(u64::from_le_bytes(*b"abcdefgh")), 8);
    }

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
            (r"\\\\\\", Escapes::StringValue, r"\\\"),
            (r#"\\\""#, Escapes::StringValue, r#"\""#),
            (
                r"a long token\, past eight\ bytes\=x\\",
                Escapes::Tag,
                r"a long token, past eight bytes=x\\",
            ),
            (r"\,\,\,\,\,\,\,\,\,", Escapes::Tag, ",,,,,,,,,"),
            (
                r"no escapes here\x\y but a long run",
                Escapes::NameOrFieldKey,
                r"no escapes here\x\y but a long run",
            ),
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
