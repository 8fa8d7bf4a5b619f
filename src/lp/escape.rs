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
    /// This position's flag in [`DROPS_BEFORE`].
    #[inline(always)]
    fn flag(self) -> u8 {
        match self {
            Escapes::NameOrFieldKey => 1,
            Escapes::Tag => 2,
            Escapes::StringValue => 4,
        }
    }

    /// Whether a backslash before `b` is dropped here.
    #[inline(always)]
    fn drops_before(self, b: u8) -> bool {
        DROPS_BEFORE[b as usize] & self.flag() != 0
    }
}

/// Per byte, the positions (as [`Escapes::flag`] bits) where a backslash
/// before it is dropped: one load in place of a 128-bit shift.
static DROPS_BEFORE: [u8; 256] = {
    let mut table = [0u8; 256];
    let rules: [(u8, &[u8]); 3] = [(1, b", =\""), (2, b", ="), (4, b"\\\"")];
    let mut r = 0;
    while r < rules.len() {
        let (flag, bytes) = rules[r];
        let mut k = 0;
        while k < bytes.len() {
            table[bytes[k] as usize] |= flag;
            k += 1;
        }
        r += 1;
    }
    table
};

/// Removes the escapes of `raw` (which the caller knows holds a backslash).
///
/// The token is moved into the arena eight bytes at a time, a run from one
/// backslash to the next per step: the word is stored whole (the arena slot
/// has eight bytes of slack) and the write position advances only to the
/// backslash. Tokens are short and dense in escapes, so per-byte work is
/// what counts.
#[inline(always)]
pub fn unescape<'a>(raw: &str, escapes: Escapes, arena: &'a Bump) -> &'a str {
    let src = raw.as_bytes();
    let n = src.len();
    let layout = std::alloc::Layout::from_size_align(n + 8, 1).expect("token length");
    let dst = arena.alloc_layout(layout).as_ptr();
    let (mut read, mut dropped) = (0, 0);
    // SAFETY: a word store at `read - dropped <= read < n` stays inside the
    // `n + 8` bytes of `dst`; `word_at` reads only `src[read..n]`. Every
    // output byte below `n - dropped` is written by the run that owns it,
    // after any store of an earlier run that covered it.
    unsafe {
        while read < n {
            let word = word_at(src, read);
            std::ptr::write_unaligned(dst.add(read - dropped) as *mut u64, word);
            let k = backslash_index(word);
            if k == 8 {
                read += 8;
                continue;
            }
            // A backslash at `bs < n` (`word_at` pads with zeros).
            let bs = read + k;
            read = bs + 1;
            if let Some(&next) = src.get(bs + 1) {
                if escapes.drops_before(next) {
                    // Drop it and keep the byte after it, whatever it is (a
                    // second backslash there starts no escape).
                    dropped += 1;
                    *dst.add(bs + 1 - dropped) = next;
                    read = bs + 2;
                }
            }
        }
    }
    let len = n - dropped;
    // SAFETY: the first `len` bytes were all written (see above).
    let out = unsafe { std::slice::from_raw_parts(dst, len) };
    debug_assert!(std::str::from_utf8(out).is_ok());
    // SAFETY: `raw` is UTF-8 and only ASCII backslashes that precede an ASCII
    // byte were removed, so no multi-byte sequence was split.
    unsafe { std::str::from_utf8_unchecked(out) }
}

/// `src[i..i + 8]` as a little-endian word, zero past the end of `src`.
#[inline(always)]
fn word_at(src: &[u8], i: usize) -> u64 {
    let n = src.len();
    if let Some(chunk) = src.get(i..i + 8) {
        return u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    if n >= 8 {
        // The last eight bytes, shifted so that byte `i` comes first.
        let last = u64::from_le_bytes(src[n - 8..].try_into().expect("8 bytes"));
        return last >> (8 * (8 - (n - i)));
    }
    let mut bytes = [0u8; 8];
    bytes[..n - i].copy_from_slice(&src[i..]);
    u64::from_le_bytes(bytes)
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The AVX2 build of [`unescape`] for tokens of up to 32 bytes: one load
/// gives the backslashes and the bytes whose escape drops as bitmasks, and
/// the bytes after each dropped backslash move down with one 32-byte store.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::Escapes;
    use bumpalo::Bump;
    use std::arch::x86_64::*;

    /// `buf[from..to]` unescaped, or `None` when the token is longer than 32
    /// bytes or fewer than 64 bytes of `buf` follow its start (the caller
    /// then runs [`super::unescape`]).
    ///
    /// # Safety
    /// The CPU must have AVX2, and `buf[from..to]` must be UTF-8.
    #[target_feature(enable = "avx2,bmi1")]
    #[inline]
    pub unsafe fn unescape<'a>(
        buf: &[u8],
        from: usize,
        to: usize,
        escapes: Escapes,
        arena: &'a Bump,
    ) -> Option<&'a str> {
        let n = to - from;
        if n > 32 || from + 64 > buf.len() {
            return None;
        }
        // SAFETY: `from + 64 <= buf.len()`, so the load and every segment
        // load below (which start at most 32 bytes further) stay in `buf`.
        let v = unsafe { _mm256_loadu_si256(buf.as_ptr().add(from) as *const __m256i) };
        let is = |b: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b as i8));
        let either = |a: __m256i, b: __m256i| _mm256_or_si256(a, b);
        let droppable = match escapes {
            Escapes::NameOrFieldKey => {
                either(either(is(b','), is(b' ')), either(is(b'='), is(b'"')))
            }
            Escapes::Tag => either(either(is(b','), is(b' ')), is(b'=')),
            Escapes::StringValue => either(is(b'\\'), is(b'"')),
        };
        let lanes = (!0u32).checked_shr(32 - n as u32).unwrap_or(0);
        let backslashes = _mm256_movemask_epi8(is(b'\\')) as u32 & lanes;
        // Backslashes whose next byte (inside the token) drops them.
        let mut candidates = backslashes & (_mm256_movemask_epi8(droppable) as u32 & lanes) >> 1;
        let drops = match escapes {
            // In a string a dropped backslash takes the next byte with it,
            // even a backslash: the escapes are decided left to right.
            Escapes::StringValue => {
                let mut drops = 0;
                while candidates != 0 {
                    let i = candidates.trailing_zeros();
                    drops |= 1 << i;
                    candidates &= !(3u32 << i);
                }
                drops
            }
            // Elsewhere a backslash never drops before a backslash.
            _ => candidates,
        };
        let layout = std::alloc::Layout::from_size_align(n + 32, 1).expect("token length");
        let dst = arena.alloc_layout(layout).as_ptr();
        let mut dropped = 0;
        // SAFETY: every store writes 32 bytes at most `n - 1` bytes into the
        // `n + 32` bytes of `dst`; each run of kept bytes is stored after
        // the run before it, so the first `n - dropped` bytes end right.
        unsafe {
            _mm256_storeu_si256(dst as *mut __m256i, v);
            let mut rest = drops;
            while rest != 0 {
                let i = rest.trailing_zeros() as usize;
                dropped += 1;
                let run = _mm256_loadu_si256(buf.as_ptr().add(from + i + 1) as *const __m256i);
                _mm256_storeu_si256(dst.add(i + 1 - dropped) as *mut __m256i, run);
                rest &= rest - 1;
            }
        }
        // SAFETY: the first `n - dropped` bytes were written, and only ASCII
        // backslashes before ASCII bytes were removed from UTF-8.
        unsafe {
            let out = std::slice::from_raw_parts(dst, n - dropped);
            Some(std::str::from_utf8_unchecked(out))
        }
    }
}

/// Index of the first backslash among the eight bytes of `word` (first byte
/// lowest), or 8.
#[inline(always)]
fn backslash_index(word: u64) -> usize {
    let x = word ^ (ONES * b'\\' as u64);
    // The lowest flagged byte is the first zero byte of `x`, exactly.
    let zero = x.wrapping_sub(ONES) & !x & (ONES << 7);
    zero.trailing_zeros() as usize / 8
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

    /// InfluxDB's rule spelled out a byte at a time.
    fn unescape_slowly(raw: &str, escapes: Escapes) -> String {
        let bytes = raw.as_bytes();
        let set: &[u8] = match escapes {
            Escapes::NameOrFieldKey => b", =\"",
            Escapes::Tag => b", =",
            Escapes::StringValue => b"\\\"",
        };
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' {
                if let Some(&next) = bytes.get(i + 1) {
                    if set.contains(&next) {
                        i += 1;
                    }
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn unescape_agrees_with_the_byte_rule_at_every_length() {
        let alphabet = ["\\", "\\", ",", " ", "=", "\"", "a", "é"];
        let arena = Bump::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let raw: String = (0..len)
                .map(|k| alphabet[((x >> (k % 20 * 3)) as usize % alphabet.len()) ^ (k % 2)])
                .collect();
            for escapes in [Escapes::NameOrFieldKey, Escapes::Tag, Escapes::StringValue] {
                assert_eq!(
                    unescape(&raw, escapes, &arena),
                    unescape_slowly(&raw, escapes),
                    "{raw:?} {escapes:?}"
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_unescape_agrees_with_the_byte_rule() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let alphabet = [b"\\", b"\\", b",", b" ", b"=", b"\"", b"a", b"\xc3"];
        let arena = Bump::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let (mut vector, mut declined) = (0, 0);
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Tokens of 0..=40 bytes in a buffer with 0..=80 bytes after them.
            let len = (x % 41) as usize;
            let tail = (x >> 8) as usize % 81;
            let mut buf: Vec<u8> = (0..len + tail)
                .map(|k| alphabet[((x >> (k % 20 * 3)) as usize % alphabet.len()) ^ (k % 2)][0])
                .collect();
            // Keep it UTF-8: a lone lead byte becomes a letter.
            for b in buf.iter_mut().filter(|b| **b >= 0x80) {
                *b = b'e';
            }
            let raw = std::str::from_utf8(&buf[..len]).unwrap();
            for escapes in [Escapes::NameOrFieldKey, Escapes::Tag, Escapes::StringValue] {
                // SAFETY: AVX2 was detected; the token is UTF-8.
                match unsafe { avx2::unescape(&buf, 0, len, escapes, &arena) } {
                    Some(out) => {
                        vector += 1;
                        assert_eq!(out, unescape_slowly(raw, escapes), "{raw:?} {escapes:?}");
                    }
                    None => {
                        declined += 1;
                        assert!(len > 32 || len + tail < 64, "{len} {tail}");
                    }
                }
            }
        }
        assert!(vector > 10_000 && declined > 10_000, "{vector} {declined}");
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
