//! Field values that are not strings (numbers, booleans) and timestamps.
//!
//! Each scanner follows InfluxDB 1.x's grammar byte for byte, so the same
//! inputs are accepted and the same error is named, and parses while it scans:
//! integers accumulate as they go, and plain decimals such as `95.2` take the
//! exact fast path (mantissa below 2^53 divided by an exact power of ten is
//! correctly rounded); everything else goes to `fast-float2`. No allocation.

use super::error::LineErrorKind;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
}

/// True where a value ends: `\n`, a `\r` that ends the line (CRLF), or the end.
#[inline(always)]
pub fn is_line_end(buf: &[u8], i: usize) -> bool {
    match buf.get(i) {
        None | Some(b'\n') => true,
        Some(b'\r') => matches!(buf.get(i + 1), None | Some(b'\n')),
        Some(_) => false,
    }
}

/// True where a field value ends: `,`, space, or the end of the line.
#[inline(always)]
fn is_value_end(buf: &[u8], i: usize) -> bool {
    match buf.get(i) {
        Some(b',') | Some(b' ') => true,
        _ => is_line_end(buf, i),
    }
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Scans a number starting at `start` (a digit, `-`, `.`, `N` or `n`).
/// Returns the value and the index of the byte that ended it.
#[inline]
pub fn scan_number(buf: &[u8], start: usize) -> Result<(Number, usize), LineErrorKind> {
    match scan_plain_number(buf, start) {
        Some(found) => Ok(found),
        None => scan_number_general(buf, start),
    }
}

/// The shapes almost every writer sends, `-?digits[.digits][i|u]` with at
/// most 19 digits, eight digits at a time. `None` hands anything else (and
/// every error) to the general scanner, which decides from scratch.
#[inline(always)]
fn scan_plain_number(buf: &[u8], start: usize) -> Option<(Number, usize)> {
    let negative = buf[start] == b'-';
    let mut i = start + negative as usize;
    let mut mantissa = 0u64;
    let mut digits = 0u32;
    i = digit_run(buf, i, &mut mantissa, &mut digits);
    let point = buf.get(i) == Some(&b'.');
    let int_digits = digits;
    if point {
        i = digit_run(buf, i + 1, &mut mantissa, &mut digits);
    }
    if digits == 0 || digits > 19 {
        return None;
    }
    match buf.get(i) {
        Some(b'i') if !point && is_value_end(buf, i + 1) => {
            let value = if negative {
                (mantissa <= 1 << 63).then(|| (mantissa as i64).wrapping_neg())?
            } else {
                i64::try_from(mantissa).ok()?
            };
            Some((Number::Integer(value), i + 1))
        }
        Some(b'u') if !point && !negative && is_value_end(buf, i + 1) => {
            Some((Number::Unsigned(mantissa), i + 1))
        }
        _ if is_value_end(buf, i) => {
            let frac_digits = (digits - int_digits) as usize;
            let digits_text = &buf[start + negative as usize..i];
            let value = decimal(mantissa, frac_digits, digits_text)?;
            Some((Number::Float(if negative { -value } else { value }), i))
        }
        _ => None,
    }
}

/// The float that `digits_text` (digits with at most one `.`, no sign or
/// exponent) spells, given its digits as `mantissa` with `frac_digits` of
/// them after the point.
#[inline(always)]
fn decimal(mantissa: u64, frac_digits: usize, digits_text: &[u8]) -> Option<f64> {
    if frac_digits == 0 {
        // Exact up to 2^53, rounded to nearest (ties to even) past it, and
        // skips a division on the most common values.
        Some(mantissa as f64)
    } else if mantissa <= 1 << 53 && frac_digits < POW10.len() {
        // Both operands are exact, so the one rounding is the correct one.
        Some(mantissa as f64 / POW10[frac_digits])
    } else if frac_digits < POW10_INT.len() {
        Some(
            reciprocal_quotient(mantissa, frac_digits)
                .unwrap_or_else(|| quotient(mantissa, frac_digits)),
        )
    } else {
        fast_float2::parse::<f64, _>(digits_text).ok()
    }
}

/// Per power 10^f (f in 1..=19): its bit length `b`, and 2^(127 + b) / 10^f
/// rounded up, a 128-bit reciprocal with its top bit set.
const RECIPROCALS: [(u32, u128); 20] = {
    let mut table = [(0u32, 0u128); 20];
    let mut f = 1;
    while f < 20 {
        let d = POW10_INT[f];
        let b = 64 - d.leading_zeros();
        // Long division of 2^(127 + b) by d, a bit at a time; the quotient
        // lies in (2^127, 2^128).
        let (d, top) = (d as u128, 127 + b as i32);
        let (mut rem, mut q, mut bit) = (0u128, 0u128, top);
        while bit >= 0 {
            rem = rem * 2 + (bit == top) as u128;
            if rem >= d {
                rem -= d;
                if bit < 128 {
                    q |= 1 << bit;
                }
            }
            bit -= 1;
        }
        table[f] = (b, q + (rem != 0) as u128);
        f += 1;
    }
    table
};

/// [`quotient`] from two multiplications by the reciprocal instead of a
/// division (whose latency the parser otherwise waits on), or `None` in the
/// rare cases where the reciprocal's error could change the rounding.
#[inline(always)]
fn reciprocal_quotient(mantissa: u64, frac_digits: usize) -> Option<f64> {
    let (b, r) = RECIPROCALS[frac_digits];
    // P = mantissa * r, 192 bits in words w2:w1:w0. It overshoots the exact
    // T = mantissa * 2^(127 + b) / 10^f by less than `mantissa`.
    let low = mantissa as u128 * (r as u64) as u128;
    let high = mantissa as u128 * (r >> 64);
    let mid = (low >> 64) + (high as u64) as u128;
    let w0 = low as u64;
    let w1 = mid as u64;
    let w2 = (high >> 64) as u64 + (mid >> 64) as u64;
    if w0 < mantissa || w2 == 0 {
        // The overshoot might reach w1; w2 is zero only for tiny mantissas.
        return None;
    }
    // Now w2:w1 is exactly T / 2^64 rounded down: its leading 64 bits, then
    // 53 bits of mantissa and a half bit; anything set below is the sticky.
    let c = w2.leading_zeros();
    let top = match c {
        0 => w2,
        c => w2 << c | w1 >> (64 - c),
    };
    let below = top & 0x3ff | w1 << c;
    let half = (top >> 10) & 1;
    if below == 0 && half == 1 {
        // A tie unless bits under w1 are set: the exact division decides.
        return None;
    }
    let m = (top >> 11) + (half & (below != 0) as u64);
    // value = T / 2^(127 + b) = top * 2^(1 - c - b); the exponent is in -63..=8.
    let exponent = 12 - c as i32 - b as i32;
    Some(m as f64 * f64::from_bits(((1023 + exponent) as u64) << 52))
}

/// `mantissa / 10^frac_digits` correctly rounded (to nearest, ties to even),
/// for the full-precision values writers send (Go's and Rust's shortest
/// formatting gives 16–17 digits, past the 2^53 of the division above):
/// one 128-by-64-bit division gives the quotient's top 64 bits exactly, and
/// the bits below them and the remainder decide the rounding. No reparse of
/// the text. `frac_digits` is 1..=19, so the result is a normal number.
#[inline(never)]
fn quotient(mantissa: u64, frac_digits: usize) -> f64 {
    debug_assert!(mantissa > 0 && (1..POW10_INT.len()).contains(&frac_digits));
    // mantissa / 10^f = n / (d * 2^(64 + lz)), with n's top bit set.
    let lz = mantissa.leading_zeros();
    let n = (mantissa as u128) << (64 + lz);
    let d = POW10_INT[frac_digits] as u128;
    let q = n / d;
    let inexact = n - q * d != 0;
    // d < 2^64, so q has at least 64 bits: `top` holds its leading 64.
    let qlz = q.leading_zeros();
    let shifted = q << qlz;
    let top = (shifted >> 64) as u64;
    let sticky = (shifted as u64 != 0) | inexact;
    // 53 bits of mantissa, then round half to even on the 11 below.
    let mut m = top >> 11;
    let half = (top >> 10) & 1;
    let below = (top & 0x3ff != 0) | sticky;
    m += half & (below as u64 | (m & 1));
    // value = m * 2^(11 - qlz - lz); the exponent is in -74..=11.
    let exponent = 11 - qlz as i32 - lz as i32;
    m as f64 * f64::from_bits(((1023 + exponent) as u64) << 52)
}

/// Appends the decimal digits at `i` to `acc` (wrapping past 19 digits, which
/// callers reject) and returns the index of the first non-digit.
#[inline(always)]
fn digit_run(buf: &[u8], mut i: usize, acc: &mut u64, count: &mut u32) -> usize {
    while let Some(chunk) = buf.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let n = leading_digits(word);
        if n == 0 {
            return i;
        }
        *acc = acc
            .wrapping_mul(POW10_INT[n])
            .wrapping_add(eight_digits(word, n));
        *count += n as u32;
        i += n;
        if n < 8 {
            return i;
        }
    }
    while let Some(&b) = buf.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        *acc = acc.wrapping_mul(10).wrapping_add((b - b'0') as u64);
        *count += 1;
        i += 1;
    }
    i
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// How many of the 8 bytes of `word` (first byte lowest) are ASCII digits
/// before the first that is not.
#[inline(always)]
fn leading_digits(word: u64) -> usize {
    // Digits become 0..=9 after the xor; adding 0x76 sets the top bit of every
    // other byte (carries only leave bytes that are already flagged, so the
    // lowest flag is exact).
    let x = word ^ (0x30 * ONES);
    let flags = (x | x.wrapping_add(0x76 * ONES)) & (0x80 * ONES);
    (flags.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1..=8) digit bytes of `word`.
#[inline(always)]
fn eight_digits(word: u64, n: usize) -> u64 {
    let mut v = word.wrapping_sub(0x30 * ONES);
    if n < 8 {
        // Keep the n digits and move them up: the bytes below read as leading zeros.
        v = (v & ((1u64 << (8 * n)) - 1)) << (8 * (8 - n));
    }
    // Pairwise, then in fours, then all eight (first byte most significant).
    v = (v.wrapping_mul(10)).wrapping_add(v >> 8);
    let pairs = v & 0x0000_00FF_0000_00FF;
    let odd = (v >> 16) & 0x0000_00FF_0000_00FF;
    (pairs
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(odd.wrapping_mul(1 + (10_000 << 32))))
        >> 32
}

/// 10^k for k in 0..=19, every power a u64 holds.
const POW10_INT: [u64; 20] = {
    let mut table = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        table[k] = table[k - 1] * 10;
        k += 1;
    }
    table
};

/// InfluxDB's number grammar, byte by byte: exponents, suffix errors, range
/// errors, and anything else the fast path declined.
#[inline(never)]
fn scan_number_general(buf: &[u8], start: usize) -> Result<(Number, usize), LineErrorKind> {
    let mut i = start;
    let negative = buf[i] == b'-';
    if negative {
        i += 1;
        if i == buf.len() {
            return Err(LineErrorKind::InvalidNumber);
        }
    }
    let (mut decimal, mut scientific, mut is_int, mut is_uint) = (false, false, false, false);
    let mut mantissa: u64 = 0;
    let mut digits = 0u32;
    let mut frac_digits = 0u32;
    loop {
        if is_value_end(buf, i) {
            break;
        }
        let b = buf[i];
        if b.is_ascii_digit() {
            mantissa = mantissa.wrapping_mul(10).wrapping_add((b - b'0') as u64);
            digits += 1;
            frac_digits += decimal as u32;
            i += 1;
            continue;
        }
        match b {
            b'i' if i > start && !(is_int || is_uint) => is_int = true,
            b'u' if i > start && !(is_int || is_uint) => is_uint = true,
            b'.' if decimal => return Err(LineErrorKind::InvalidNumber),
            b'.' => decimal = true,
            b'e' | b'E' if i > start => scientific = true,
            b'+' | b'-' if matches!(buf[i - 1], b'e' | b'E') => {}
            _ => return Err(LineErrorKind::InvalidNumber),
        }
        i += 1;
    }
    if (is_int || is_uint) && (decimal || scientific) {
        return Err(LineErrorKind::InvalidNumber);
    }
    // InfluxDB counts every byte that is not the sign, the point or the suffix.
    let numeric = (i - start) - is_int as usize - decimal as usize - negative as usize;
    if numeric == 0 {
        return Err(LineErrorKind::InvalidNumber);
    }
    if is_int || is_uint {
        if buf[i - 1] != if is_int { b'i' } else { b'u' } {
            return Err(LineErrorKind::InvalidNumber);
        }
        let text = &buf[start..i - 1];
        if is_uint {
            if negative {
                return Err(LineErrorKind::InvalidNumber);
            }
            return match accumulate(text) {
                Some(v) => Ok((Number::Unsigned(v), i)),
                None => Err(LineErrorKind::UnsignedOutOfRange(lossy(text))),
            };
        }
        let magnitude = if digits <= 18 {
            Some(mantissa)
        } else {
            accumulate(&text[negative as usize..])
        };
        let value = match magnitude {
            Some(m) if negative && m <= 1u64 << 63 => Some((m as i64).wrapping_neg()),
            Some(m) if !negative && m <= i64::MAX as u64 => Some(m as i64),
            _ => None,
        };
        return match value {
            Some(v) => Ok((Number::Integer(v), i)),
            None => Err(LineErrorKind::IntegerOutOfRange(lossy(text))),
        };
    }
    if !scientific && digits <= 19 && mantissa <= 1 << 53 && frac_digits < POW10.len() as u32 {
        let v = mantissa as f64 / POW10[frac_digits as usize];
        return Ok((Number::Float(if negative { -v } else { v }), i));
    }
    match fast_float2::parse::<f64, _>(&buf[start..i]) {
        Ok(v) if v.is_finite() => Ok((Number::Float(v), i)),
        _ => Err(LineErrorKind::InvalidFloat),
    }
}

/// Decimal digits to u64, `None` on overflow.
#[inline]
fn accumulate(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

fn lossy(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}

/// Scans a boolean starting at `start`; InfluxDB's spellings only.
#[inline]
pub fn scan_boolean(buf: &[u8], start: usize) -> Result<(bool, usize), LineErrorKind> {
    let mut i = start + 1;
    while !is_value_end(buf, i) {
        i += 1;
    }
    match &buf[start..i] {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => Ok((true, i)),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => Ok((false, i)),
        _ => Err(LineErrorKind::InvalidBoolean),
    }
}

/// Scans a timestamp starting at `start` (not a space). Returns the raw value
/// and the index of the byte that ended it.
#[inline]
pub fn scan_timestamp(buf: &[u8], start: usize) -> Result<(i64, usize), LineErrorKind> {
    let negative = buf[start] == b'-';
    let digits_start = start + negative as usize;
    let mut value: u64 = 0;
    let mut count = 0u32;
    let i = digit_run(buf, digits_start, &mut value, &mut count);
    if !(is_line_end(buf, i) || buf[i] == b' ') {
        return Err(LineErrorKind::BadTimestamp);
    }
    if count == 0 {
        return Err(LineErrorKind::TimestampSyntax(lossy(&buf[start..i])));
    }
    // Up to 19 digits the sum is exact; past that it wrapped (leading zeros
    // can still make a valid number, so count again with overflow checks).
    let value = if count <= 19 {
        Some(value)
    } else {
        accumulate(&buf[digits_start..i])
    };
    let limit = if negative {
        1u64 << 63
    } else {
        i64::MAX as u64
    };
    match value {
        Some(v) if v <= limit => Ok(((v as i64).wrapping_mul(if negative { -1 } else { 1 }), i)),
        _ => Err(LineErrorKind::TimestampOverflow(lossy(&buf[start..i]))),
    }
}

/// The bytes of a 64-byte window of a string value that a backslash escapes,
/// given the window's backslashes; `carry` is 1 if the window's first byte is
/// escaped from the window before, and is set for the next one. A backslash
/// takes the next byte whatever it is, so in a run of them every second byte
/// is escaped: runs are told apart by the parity of where they start
/// (simdjson's branchless rule).
#[inline(always)]
pub(crate) fn escaped_bytes(backslashes: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let backslashes = backslashes & !*carry;
    let follows = backslashes << 1 | *carry;
    let odd_starts = backslashes & !EVEN & !follows;
    let (even_runs, overflow) = odd_starts.overflowing_add(backslashes);
    *carry = overflow as u64;
    (EVEN ^ even_runs << 1) & follows
}

/// The AVX2 build of the value scanners: 32 bytes are classified at once,
/// which gives the token's end (its first `,`, space or newline) and which
/// bytes are digits and dots, so digits are validated and converted 16 at a
/// time with no loop over their length. Each returns `None` for anything
/// but the plain shapes (and within 32 bytes of the body's end, where the
/// loads would run past it); the caller then runs the scalar scanner, which
/// decides from scratch.
///
/// Every function here uses AVX2-era instructions (SSSE3, SSE4.1) and is
/// `inline(always)` so that it compiles into the AVX2 build of the parser:
/// callers must have checked that the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{decimal, Number};
    use std::arch::x86_64::*;

    /// `loadu(RIGHT_ALIGN[n..])` is the `pshufb` control that moves the first
    /// `n` bytes of a register to its top lanes and zeroes the lanes below.
    static RIGHT_ALIGN: [u8; 32] = [
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    ];

    /// Sixteen bytes at `at` minus `b'0'`, so digits read 0..=9.
    /// Safety: `at + 16 <= buf.len()`, and the CPU has AVX2.
    #[inline(always)]
    unsafe fn load_digits(buf: &[u8], at: usize) -> __m128i {
        debug_assert!(at + 16 <= buf.len());
        // SAFETY: the caller keeps the 16 bytes inside `buf`.
        let x = unsafe { _mm_loadu_si128(buf.as_ptr().add(at) as *const __m128i) };
        _mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8))
    }

    /// Bit k set where lane k of `t` (bytes minus `b'0'`) is a digit, and
    /// where it is a `.`.
    #[inline(always)]
    unsafe fn classify(t: __m128i) -> (u32, u32) {
        let digits = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t);
        let dots = _mm_cmpeq_epi8(t, _mm_set1_epi8(b'.'.wrapping_sub(b'0') as i8));
        (
            _mm_movemask_epi8(digits) as u32,
            _mm_movemask_epi8(dots) as u32,
        )
    }

    /// The value of the first `n` (1..=16) lanes of `t`, which are digits.
    #[inline(always)]
    unsafe fn value16(t: __m128i, n: usize) -> u64 {
        debug_assert!((1..=16).contains(&n));
        // SAFETY: `n <= 16`, so the 16-byte window lies inside RIGHT_ALIGN.
        let window = unsafe { _mm_loadu_si128(RIGHT_ALIGN.as_ptr().add(n) as *const __m128i) };
        let z = _mm_shuffle_epi8(t, window);
        // Pairs of digits (the first weighs 10), then fours, then eights.
        let pairs = _mm_maddubs_epi16(z, _mm_set1_epi16(0x010a));
        let fours = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
        let packed = _mm_packus_epi32(fours, fours);
        let eights = _mm_madd_epi16(packed, _mm_set1_epi32(0x0001_2710));
        let high = _mm_cvtsi128_si32(eights) as u32 as u64;
        let low = _mm_extract_epi32::<1>(eights) as u32 as u64;
        high * 100_000_000 + low
    }

    /// Where the token at `at` ends (its first `,`, space or `\n`, within 32
    /// bytes; or `known_end`, where the caller already found it) and which of
    /// the bytes before that are digits and which dots.
    /// Safety: `at + 32 <= buf.len()`.
    #[inline(always)]
    unsafe fn token(buf: &[u8], at: usize, known_end: Option<usize>) -> Option<(usize, u32, u32)> {
        // SAFETY: as the caller promised.
        unsafe {
            let x = _mm256_loadu_si256(buf.as_ptr().add(at) as *const __m256i);
            let (x0, x1) = (_mm256_castsi256_si128(x), _mm256_extracti128_si256::<1>(x));
            let len = match known_end {
                Some(end) => match end.wrapping_sub(at) {
                    len if len < 32 => len,
                    _ => return None,
                },
                None => match any_of(x, [b',', b' ', b'\n']) {
                    0 => return None,
                    end => end.trailing_zeros() as usize,
                },
            };
            let zero = _mm_set1_epi8(b'0' as i8);
            let (d0, p0) = classify(_mm_sub_epi8(x0, zero));
            let (d1, p1) = classify(_mm_sub_epi8(x1, zero));
            let lanes = (1u32 << len) - 1;
            Some((len, (d0 | d1 << 16) & lanes, (p0 | p1 << 16) & lanes))
        }
    }

    /// The value of the `n` (1..=19) digits at `at`.
    /// Safety: `at + 16 <= buf.len()` and `at + n <= buf.len()`.
    #[inline(always)]
    unsafe fn value19(buf: &[u8], at: usize, n: usize) -> u64 {
        // One or two digits (the zeros and small counters writers send a lot
        // of, and most floats' integer part) skip the vector conversion's
        // latency chain.
        if n <= 2 {
            let first = (buf[at] - b'0') as u64;
            return match n {
                1 => first,
                _ => first * 10 + (buf[at + 1] - b'0') as u64,
            };
        }
        // SAFETY: as the caller promised; 19 digits fit a u64.
        unsafe {
            let first = load_digits(buf, at);
            if n <= 16 {
                return value16(first, n);
            }
            let low = value16(load_digits(buf, at + n - 16), 16);
            value16(first, n - 16) * 10_000_000_000_000_000 + low
        }
    }

    /// A number field value at `start` (a digit, `-`, `.`, `N` or `n`).
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[inline(always)]
    pub unsafe fn number(
        buf: &[u8],
        start: usize,
        known_end: Option<usize>,
    ) -> Option<(Number, usize)> {
        // SAFETY: as the caller promised.
        let (negative, at, len, digits, dots) = unsafe { signed_token(buf, start, known_end)? };
        let end = at + len;
        // SAFETY: `signed_token` found `0 < len < 32` with 32 bytes from
        // `at` in `buf`.
        let suffix = unsafe { *buf.get_unchecked(end - 1) };
        if let b'i' | b'u' = suffix {
            let n = len - 1;
            if n == 0 || n > 19 || digits != (1u32 << n) - 1 {
                return None;
            }
            // SAFETY: `signed_token` checked that 32 bytes from `at` are in `buf`.
            let magnitude = unsafe { value19(buf, at, n) };
            let value = match (suffix, negative) {
                (b'i', _) => Number::Integer(signed(negative, magnitude)?),
                (b'u', false) => Number::Unsigned(magnitude),
                _ => return None,
            };
            return Some((value, end));
        }
        let all = (1u32 << len) - 1;
        if digits | dots != all || dots & dots.wrapping_sub(1) != 0 {
            return None;
        }
        let (int_digits, frac_digits) = match dots {
            0 => (len, 0),
            _ => {
                let point = dots.trailing_zeros() as usize;
                (point, len - point - 1)
            }
        };
        if int_digits + frac_digits == 0 || int_digits + frac_digits > 19 {
            return None;
        }
        let frac_at = at + int_digits + 1;
        if frac_digits > 0 && frac_at + 16 > buf.len() {
            return None;
        }
        // SAFETY: both runs start at least 16 bytes before the end of `buf`
        // and end by `end`.
        let mantissa = unsafe {
            let int = match int_digits {
                0 => 0,
                n => value19(buf, at, n),
            };
            match frac_digits {
                0 => int,
                n => int * super::POW10_INT[n] + value19(buf, frac_at, n),
            }
        };
        let value = decimal(mantissa, frac_digits, &buf[at..end])?;
        Some((Number::Float(if negative { -value } else { value }), end))
    }

    /// Where in the 32 bytes from `from` the first `"`, `\\` or `\n` is,
    /// if one of them is.
    ///
    /// # Safety
    /// The CPU must have AVX2, and `from + 32 <= buf.len()`.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn string_special(buf: &[u8], from: usize) -> Option<usize> {
        debug_assert!(from + 32 <= buf.len());
        // SAFETY: as the caller promised.
        let hits = unsafe {
            let x = _mm256_loadu_si256(buf.as_ptr().add(from) as *const __m256i);
            any_of(x, [b'"', b'\\', b'\n'])
        };
        (hits != 0).then(|| hits.trailing_zeros() as usize)
    }

    /// The closing quote of the string value whose body starts at `from`,
    /// found 64 bytes at a time instead of one escape at a time: its index,
    /// whether a backslash comes before it, and how many `\n` the value
    /// holds. `None` if the body ends within 64 bytes of a window with no
    /// closing quote in it (the caller scans from `from` again).
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn string_end(buf: &[u8], from: usize) -> Option<(usize, bool, usize)> {
        let mut at = from;
        let mut carry = 0u64;
        let mut backslashes_before = 0u64;
        let mut newlines = 0;
        while at + 64 <= buf.len() {
            // SAFETY: the 64 bytes from `at` are in `buf`.
            let (quotes, backslashes, lines) = unsafe {
                let lo = _mm256_loadu_si256(buf.as_ptr().add(at) as *const __m256i);
                let hi = _mm256_loadu_si256(buf.as_ptr().add(at + 32) as *const __m256i);
                let mask = |b: u8| {
                    let c = _mm256_set1_epi8(b as i8);
                    let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, c)) as u32 as u64;
                    let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, c)) as u32 as u64;
                    lo | hi << 32
                };
                (mask(b'"'), mask(b'\\'), mask(b'\n'))
            };
            let close = match backslashes | carry {
                0 => quotes,
                _ => quotes & !super::escaped_bytes(backslashes, &mut carry),
            };
            // Newlines in strings are rare, and AVX2 alone has no `popcnt`.
            if close != 0 {
                let before = (close & close.wrapping_neg()) - 1;
                if lines & before != 0 {
                    newlines += (lines & before).count_ones() as usize;
                }
                backslashes_before |= backslashes & before;
                let end = at + close.trailing_zeros() as usize;
                return Some((end, backslashes_before != 0, newlines));
            }
            if lines != 0 {
                newlines += lines.count_ones() as usize;
            }
            backslashes_before |= backslashes;
            at += 64;
        }
        None
    }

    /// Bit k set where byte k of `x` is one of `bytes`.
    /// Safety: the CPU has AVX2.
    #[inline(always)]
    unsafe fn any_of(x: __m256i, bytes: [u8; 3]) -> u32 {
        let is = |b: u8| _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b as i8));
        let hits = _mm256_or_si256(_mm256_or_si256(is(bytes[0]), is(bytes[1])), is(bytes[2]));
        _mm256_movemask_epi8(hits) as u32
    }

    /// A timestamp at `start` (not a space).
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[inline(always)]
    pub unsafe fn timestamp(
        buf: &[u8],
        start: usize,
        known_end: Option<usize>,
    ) -> Option<(i64, usize)> {
        // SAFETY: as the caller promised.
        let (negative, at, n, digits, _) = unsafe { signed_token(buf, start, known_end)? };
        let end = at + n;
        // SAFETY: `end < at + 32 <= buf.len()` (see `signed_token`).
        if n > 19 || unsafe { *buf.get_unchecked(end) } == b',' || digits != (1u32 << n) - 1 {
            return None;
        }
        // SAFETY: `signed_token` checked 32 bytes from `at` are in `buf`.
        let magnitude = unsafe { value19(buf, at, n) };
        Some((signed(negative, magnitude)?, end))
    }

    /// The sign at `start`, then [`token`] after it: whether negative, where
    /// the token starts, its length (not 0), its digits and its dots.
    /// Safety: the CPU has AVX2.
    #[inline(always)]
    unsafe fn signed_token(
        buf: &[u8],
        start: usize,
        known_end: Option<usize>,
    ) -> Option<(bool, usize, usize, u32, u32)> {
        let negative = buf[start] == b'-';
        let at = start + negative as usize;
        if at + 32 > buf.len() {
            return None;
        }
        // SAFETY: `at + 32 <= buf.len()`.
        let (len, digits, dots) = unsafe { token(buf, at, known_end)? };
        (len > 0).then_some((negative, at, len, digits, dots))
    }

    /// `magnitude` with its sign, if an i64 holds it.
    #[inline(always)]
    fn signed(negative: bool, magnitude: u64) -> Option<i64> {
        match negative {
            false => i64::try_from(magnitude).ok(),
            true if magnitude <= 1 << 63 => Some((magnitude as i64).wrapping_neg()),
            true => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LineErrorKind::*;

    fn num(s: &str) -> Result<Number, LineErrorKind> {
        scan_number(s.as_bytes(), 0).map(|(n, end)| {
            assert!(is_value_end(s.as_bytes(), end), "{s}: stopped at {end}");
            n
        })
    }

    #[test]
    fn numbers() {
        let table: &[(&str, Result<Number, LineErrorKind>)] = &[
            ("1", Ok(Number::Float(1.0))),
            ("1.5", Ok(Number::Float(1.5))),
            ("-1.5e3", Ok(Number::Float(-1500.0))),
            ("1E2", Ok(Number::Float(100.0))),
            ("1e+2", Ok(Number::Float(100.0))),
            ("1e-2", Ok(Number::Float(0.01))),
            (".5", Ok(Number::Float(0.5))),
            ("5.", Ok(Number::Float(5.0))),
            ("-0", Ok(Number::Float(-0.0))),
            ("95.2", Ok(Number::Float(95.2))),
            ("0.1", Ok(Number::Float(0.1))),
            (
                "123456789012345678901234",
                Ok(Number::Float(1.2345678901234568e23)),
            ),
            (
                "0.30000000000000004",
                Ok(Number::Float(0.30000000000000004)),
            ),
            ("1e-400", Ok(Number::Float(0.0))),
            ("1e400", Err(InvalidFloat)),
            ("1e", Err(InvalidFloat)),
            ("1ee5", Err(InvalidFloat)),
            ("1.2.3", Err(InvalidNumber)),
            ("1x", Err(InvalidNumber)),
            ("-", Err(InvalidNumber)),
            (".", Err(InvalidNumber)),
            ("NaN", Err(InvalidNumber)),
            ("nan", Err(InvalidNumber)),
            ("1+5", Err(InvalidNumber)),
            ("1i", Ok(Number::Integer(1))),
            ("-1i", Ok(Number::Integer(-1))),
            ("01i", Ok(Number::Integer(1))),
            ("9223372036854775807i", Ok(Number::Integer(i64::MAX))),
            ("-9223372036854775808i", Ok(Number::Integer(i64::MIN))),
            (
                "9223372036854775808i",
                Err(IntegerOutOfRange("9223372036854775808".into())),
            ),
            (
                "-9223372036854775809i",
                Err(IntegerOutOfRange("-9223372036854775809".into())),
            ),
            (
                "99999999999999999999999i",
                Err(IntegerOutOfRange("99999999999999999999999".into())),
            ),
            ("1.5i", Err(InvalidNumber)),
            ("1e5i", Err(InvalidNumber)),
            ("1i5", Err(InvalidNumber)),
            ("1ii", Err(InvalidNumber)),
            ("-i", Err(InvalidNumber)),
            ("1u", Ok(Number::Unsigned(1))),
            ("18446744073709551615u", Ok(Number::Unsigned(u64::MAX))),
            (
                "18446744073709551616u",
                Err(UnsignedOutOfRange("18446744073709551616".into())),
            ),
            ("-1u", Err(InvalidNumber)),
            ("1.5u", Err(InvalidNumber)),
            ("1iu", Err(InvalidNumber)),
        ];
        for (input, expected) in table {
            assert_eq!(&num(input), expected, "{input}");
        }
    }

    #[test]
    fn fast_path_agrees_with_fast_float_on_decimals() {
        let mut x = 0x9e3779b97f4a7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = x % 10_000_000_000;
            let frac_len = (x >> 40) % 10;
            let frac = (x >> 20) % 10u64.pow(frac_len as u32);
            let s = format!("{int}.{frac:0width$}", width = frac_len as usize);
            let expected: f64 = fast_float2::parse(&s).unwrap();
            assert_eq!(num(&s), Ok(Number::Float(expected)), "{s}");
        }
    }

    #[test]
    fn quotient_rounds_like_fast_float() {
        // Full-precision decimals of 16 to 19 digits with the point anywhere,
        // plus the values whose next digit is exactly a half.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let (mut checked, mut short, mut fast_ones) = (0, 0, 0);
        while checked < 200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = 16 + (x % 4) as usize;
            let mut mantissa = (x >> 3) % POW10_INT[digits];
            if x >> 62 == 0 {
                // ...5 right after the 17th significant digit: ties and near-ties.
                mantissa = mantissa / 10 * 10 + 5;
            }
            if mantissa <= 1 << 53 {
                continue;
            }
            let frac = 1 + ((x >> 50) as usize % digits);
            let p = POW10_INT[frac];
            let text = format!("{}.{:0width$}", mantissa / p, mantissa % p, width = frac);
            let expected: f64 = fast_float2::parse(&text).unwrap();
            assert_eq!(quotient(mantissa, frac), expected, "{text}");
            if let Some(fast) = reciprocal_quotient(mantissa, frac) {
                assert_eq!(fast, expected, "reciprocal {text}");
                fast_ones += (mantissa < POW10_INT[17]) as usize;
            }
            short += (mantissa < POW10_INT[17]) as usize;
            checked += 1;
        }
        // Exact ties (ulp 1 at 2^52) round to even, and the extremes.
        for (mantissa, frac) in [
            (45_035_996_273_704_965, 1),
            (45_035_996_273_704_975, 1),
            (450_359_962_737_049_650, 2),
            (u64::MAX, 1),
            (u64::MAX, 19),
            ((1 << 53) + 1, 1),
            (9_999_999_999_999_999_999, 19),
        ] {
            let p = POW10_INT[frac];
            let text = format!("{}.{:0width$}", mantissa / p, mantissa % p, width = frac);
            let expected: f64 = fast_float2::parse(&text).unwrap();
            assert_eq!(quotient(mantissa, frac), expected, "{text}");
            if let Some(fast) = reciprocal_quotient(mantissa, frac) {
                assert_eq!(fast, expected, "reciprocal {text}");
            }
        }
        // The reciprocal declines exact quotients (5^f divides the mantissa;
        // a quarter of these are built so), near-ties, and overshoots that
        // might carry, whose odds grow with the mantissa: it takes all but a
        // few of the values up to the 17 digits shortest formatting writes.
        assert!(fast_ones * 100 > short * 95, "{fast_ones} of {short}");
    }

    #[test]
    fn numbers_stop_at_value_ends() {
        for (input, end) in [("1,", 1), ("2i ", 2), ("3u\n", 2), ("4\r\n", 1), ("5\r", 1)] {
            assert_eq!(
                scan_number(input.as_bytes(), 0).unwrap().1,
                end,
                "{input:?}"
            );
        }
        assert_eq!(scan_number(b"4\rx", 0), Err(InvalidNumber));
    }

    #[test]
    fn booleans() {
        for (input, expected) in [
            ("t", Ok(true)),
            ("T", Ok(true)),
            ("true", Ok(true)),
            ("True", Ok(true)),
            ("TRUE", Ok(true)),
            ("f", Ok(false)),
            ("F", Ok(false)),
            ("false", Ok(false)),
            ("False", Ok(false)),
            ("FALSE", Ok(false)),
            ("tRUE", Err(InvalidBoolean)),
            ("yes", Err(InvalidBoolean)),
            ("truee", Err(InvalidBoolean)),
            ("fals", Err(InvalidBoolean)),
        ] {
            assert_eq!(
                scan_boolean(input.as_bytes(), 0).map(|r| r.0),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn timestamps() {
        let table: &[(&str, Result<i64, LineErrorKind>)] = &[
            ("0", Ok(0)),
            ("1700000000", Ok(1_700_000_000)),
            ("-1", Ok(-1)),
            ("9223372036854775807", Ok(i64::MAX)),
            ("-9223372036854775808", Ok(i64::MIN)),
            (
                "9223372036854775808",
                Err(TimestampOverflow("9223372036854775808".into())),
            ),
            (
                "99999999999999999999999",
                Err(TimestampOverflow("99999999999999999999999".into())),
            ),
            ("-", Err(TimestampSyntax("-".into()))),
            ("1.5", Err(BadTimestamp)),
            ("1-", Err(BadTimestamp)),
            ("--1", Err(BadTimestamp)),
            ("12a", Err(BadTimestamp)),
        ];
        for (input, expected) in table {
            assert_eq!(
                &scan_timestamp(input.as_bytes(), 0).map(|r| r.0),
                expected,
                "{input}"
            );
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod avx2_tests {
    use super::*;

    /// Whatever the AVX2 scanners accept, the scalar ones accept with the
    /// same value and end; on random tokens of every shape and length, with
    /// and without bytes after them, at the body's start and after up to 47
    /// bytes of anything.
    #[test]
    fn vector_scanners_agree_with_the_scalar_ones() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let alphabet = b"0123456789012345678901234567890123456789..--iue+\r";
        let ends: [&[u8]; 7] = [b"", b",", b" ", b"\n", b"=", b"\"", b"\r\n"];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let (mut numbers, mut timestamps) = (0, 0);
        for round in 0..300_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 34) as usize;
            let mut token: Vec<u8> = (0..len)
                .map(|k| alphabet[((x >> (k % 12 * 5)) as usize + k * 7) % alphabet.len()])
                .collect();
            // Mostly plain shapes, so the fast paths are exercised.
            if round % 3 == 0 {
                token.retain(|b| b.is_ascii_digit());
                token.truncate(1 + (x >> 50) as usize % 20);
                if token.is_empty() {
                    token.push(b'7');
                }
                match (x >> 40) % 6 {
                    0 => token.insert((x >> 44) as usize % token.len(), b'.'),
                    1 => token.push(b'i'),
                    2 => token.push(b'u'),
                    _ => {}
                }
                if (x >> 56).is_multiple_of(3) {
                    token.insert(0, b'-');
                }
            }
            let start = (x >> 20) as usize % 48;
            let mut buf: Vec<u8> = (0..start)
                .map(|k| alphabet[(x as usize >> (k % 8)) % alphabet.len()])
                .collect();
            buf.extend_from_slice(&token);
            buf.extend_from_slice(ends[(x >> 36) as usize % ends.len()]);
            if (x >> 33).is_multiple_of(2) {
                buf.extend_from_slice(b"field=1.5,more=2i 1700000000000000000\n");
            }
            // SAFETY: AVX2 was detected above.
            if let Some(found) = unsafe { avx2::number(&buf, start, None) } {
                assert_eq!(
                    Ok(found),
                    scan_number(&buf, start),
                    "{:?}",
                    String::from_utf8_lossy(&buf)
                );
                numbers += 1;
            }
            // SAFETY: as above.
            if let Some(found) = unsafe { avx2::timestamp(&buf, start, None) } {
                assert_eq!(
                    Ok(found),
                    scan_timestamp(&buf, start),
                    "{:?}",
                    String::from_utf8_lossy(&buf)
                );
                timestamps += 1;
            }
        }
        // The fast paths did take a good share of the inputs.
        assert!(
            numbers > 20_000 && timestamps > 5_000,
            "{numbers} {timestamps}"
        );
    }
}

#[cfg(test)]
mod escape_run_tests {
    use super::*;

    /// `escaped_bytes` over consecutive windows marks exactly the bytes a
    /// left-to-right scan says a backslash takes, runs of any length and
    /// across window edges included.
    #[test]
    fn escaped_bytes_agree_with_a_left_to_right_scan() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Dense and sparse backslashes, three windows long.
            let density = 1 + (x % 4);
            let mut y = x;
            let bits: Vec<bool> = (0..192)
                .map(|_| {
                    y = y
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (y >> 60) < density * 3
                })
                .collect();
            let mut expected = [false; 193];
            let mut k = 0;
            while k < 192 {
                if bits[k] {
                    expected[k + 1] = true;
                    k += 2;
                } else {
                    k += 1;
                }
            }
            let mut carry = 0;
            for w in 0..3 {
                let window = (0..64).fold(0u64, |m, i| m | (bits[64 * w + i] as u64) << i);
                let got = escaped_bytes(window, &mut carry);
                for i in 0..64 {
                    assert_eq!(
                        got >> i & 1 == 1,
                        expected[64 * w + i],
                        "window {w} byte {i}"
                    );
                }
                assert_eq!(carry == 1, expected[64 * w + 64], "carry out of window {w}");
            }
        }
    }
}

#[cfg(test)]
mod swar_tests {
    use super::*;

    #[test]
    fn word_helpers_match_a_byte_loop() {
        let alphabet = b"0123456789/:.-ei \x00\xff";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes: [u8; 8] = std::array::from_fn(|k| {
                alphabet[((x >> (k * 5)) % alphabet.len() as u64) as usize]
            });
            let word = u64::from_le_bytes(bytes);
            let n = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            assert_eq!(leading_digits(word), n, "{bytes:?}");
            if n > 0 {
                let expected = bytes[..n]
                    .iter()
                    .fold(0u64, |a, &d| a * 10 + (d - b'0') as u64);
                assert_eq!(eight_digits(word, n), expected, "{bytes:?}");
            }
        }
    }

    #[test]
    fn leading_digits_on_every_byte_value_in_every_lane() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                for fill in [b'0', b'9'] {
                    let mut bytes = [fill; 8];
                    bytes[lane] = b;
                    let expected = if b.is_ascii_digit() { 8 } else { lane };
                    assert_eq!(
                        leading_digits(u64::from_le_bytes(bytes)),
                        expected,
                        "{b} at {lane}"
                    );
                }
            }
        }
    }

    #[test]
    fn digit_runs_across_word_boundaries() {
        for len in 0..=19 {
            let digits: String = (0..len).map(|k| char::from(b'1' + (k % 9) as u8)).collect();
            for tail in ["", " ", "x", ".5"] {
                let text = format!("{digits}{tail}");
                let (mut acc, mut count) = (0u64, 0u32);
                let end = digit_run(text.as_bytes(), 0, &mut acc, &mut count);
                assert_eq!(end, len, "{text}");
                assert_eq!(count as usize, len);
                assert_eq!(acc, digits.parse::<u64>().unwrap_or(0), "{text}");
            }
        }
    }
}
