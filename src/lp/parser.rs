//! The line-protocol state machine.
//!
//! One forward pass per body. Most lines are plain (no escapes, one space
//! between sections), and for those the structural bytes from the SIMD
//! bitmaps are taken one after another, each token ending at the next (the
//! plain-line walk). Any other line, and any line the walk doubts, goes to
//! the general parser, which alone decides what a line means: there key
//! tokens (measurement, tag keys and values, field keys) end at the next
//! structural byte not preceded by a backslash (InfluxDB 1.x's escape rule
//! for keys), and values are scanned inline because their grammar decides
//! where they end. A line
//! that fails is re-delimited with InfluxDB's own line scanner (quotes can hide
//! newlines), reported with its number and text, and skipped: one bad line
//! never costs the good ones around it.

use bumpalo::collections::Vec as ArenaVec;
use bumpalo::Bump;

use super::error::{BodyError, LineError, LineErrorKind, MAX_KEY_LENGTH};
use super::escape::{self, unescape, Escapes};
#[cfg(target_arch = "x86_64")]
use super::number::avx2;
use super::number::{is_line_end, scan_boolean, scan_number, scan_timestamp, Number};
use super::precision::Precision;
use super::scan::{self, Cursor, Kernel, MemchrCursor, Structurals};
use super::{Field, FieldValue, Point, Tag};

/// Everything one body yielded: its points and its rejected lines, in order.
pub struct ParsedBody<'a> {
    pub points: ArenaVec<'a, Point<'a>>,
    pub errors: ArenaVec<'a, LineError<'a>>,
}

/// How to parse a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    pub precision: Precision,
    /// Longer lines are rejected as that line's error.
    pub max_line_length: usize,
}

impl ParseOptions {
    pub fn new(precision: Precision) -> Self {
        ParseOptions {
            precision,
            max_line_length: usize::MAX,
        }
    }
}

/// Parses a whole body with the fastest kernel this CPU has.
pub fn parse<'a>(
    body: &'a [u8],
    precision: Precision,
    arena: &'a Bump,
) -> Result<ParsedBody<'a>, BodyError> {
    parse_with_options(body, ParseOptions::new(precision), arena)
}

/// Parses a whole body with explicit options and the fastest kernel.
pub fn parse_with_options<'a>(
    body: &'a [u8],
    options: ParseOptions,
    arena: &'a Bump,
) -> Result<ParsedBody<'a>, BodyError> {
    parse_with_kernel_and_options(body, options, arena, Kernel::detect())
}

pub(crate) fn parse_with_kernel_and_options<'a>(
    body: &'a [u8],
    options: ParseOptions,
    arena: &'a Bump,
    kernel: Kernel,
) -> Result<ParsedBody<'a>, BodyError> {
    parse_dispatch(body, options, arena, kernel, true)
}

#[inline(always)]
fn parse_dispatch<'a>(
    body: &'a [u8],
    options: ParseOptions,
    arena: &'a Bump,
    kernel: Kernel,
    plain: bool,
) -> Result<ParsedBody<'a>, BodyError> {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx2 {
        // SAFETY: `Kernel::Avx2` is only constructed after runtime detection
        // found AVX2 (and the CPUs that have it have BMI1, BMI2, LZCNT, POPCNT).
        return unsafe { parse_avx2(body, options, arena, plain) };
    }
    let (masks, ascii) = scan::classify(body, kernel, arena);
    let cursor = Structurals::new(body, masks);
    parse_body(body, ascii, options, arena, cursor, Scalar, plain)
}

/// Parses every line with the general parser alone, never the plain-line
/// walk: the reference the walk is tested against.
#[doc(hidden)]
pub fn parse_general<'a>(
    body: &'a [u8],
    options: ParseOptions,
    arena: &'a Bump,
    kernel: Kernel,
) -> Result<ParsedBody<'a>, BodyError> {
    parse_dispatch(body, options, arena, kernel, false)
}

/// The whole parser compiled for AVX2 CPUs: the block classifier and the
/// value scanners inline into it, and bit tricks use BMI instructions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
fn parse_avx2<'a>(
    body: &'a [u8],
    options: ParseOptions,
    arena: &'a Bump,
    plain: bool,
) -> Result<ParsedBody<'a>, BodyError> {
    let (masks, ascii) = scan::classify(body, Kernel::Avx2, arena);
    let cursor = Structurals::new(body, masks);
    parse_body(body, ascii, options, arena, cursor, Avx2(()), plain)
}

/// How numbers and timestamps are scanned; the parser is compiled once for
/// each way.
trait Values: Copy {
    /// The number or timestamp at `start`; `known_end` is where the caller
    /// found the token to end, if it did (a hint: the scalar scanners find it
    /// again).
    fn number(
        self,
        buf: &[u8],
        start: usize,
        known_end: Option<usize>,
    ) -> Result<(Number, usize), LineErrorKind>;
    fn timestamp(
        self,
        buf: &[u8],
        start: usize,
        known_end: Option<usize>,
    ) -> Result<(i64, usize), LineErrorKind>;
    /// [`Values::number`] for the plain-line walk, which needs no error (a
    /// miss goes to the general parser): the value as a field value, and the
    /// index after it.
    #[inline(always)]
    fn walk_number<'a>(
        self,
        buf: &[u8],
        start: usize,
        _known_end: usize,
    ) -> Option<(FieldValue<'a>, usize)> {
        let (number, end) = scan_number(buf, start).ok()?;
        Some((field_of(number), end))
    }
    /// The first `"`, `\\` or `\n` at or after `from`, or the body's length.
    fn string_special(self, buf: &[u8], from: usize) -> usize {
        find_string_special(buf, from)
    }
    /// The closing quote of the string value whose body starts at `from`,
    /// whether a backslash comes before it and how many `\n` it holds, if
    /// a vector search finds it; `None` leaves it to the byte scan.
    fn string_end(self, _buf: &[u8], _from: usize) -> Option<(usize, bool, usize)> {
        None
    }
    /// [`LineParser::parse_line`], out of line (the walk's loop stays small)
    /// but built for the same CPU features as the caller.
    fn general_line<'a, C: Cursor>(
        self,
        parser: &mut LineParser<'a, C, Self>,
        start: usize,
        line_no: usize,
    ) -> Result<usize, LineErrorKind> {
        parser.parse_line_out_of_line(start, line_no)
    }
    /// [`LineParser::parse_plain_line`], out of line in the same way.
    fn plain_line<'a, C: Cursor, const ESC: bool>(
        self,
        parser: &mut LineParser<'a, C, Self>,
        start: usize,
        line_no: usize,
    ) -> Option<usize> {
        parser.parse_plain_line_out_of_line::<ESC>(start, line_no)
    }
    /// The token `text[from..to]` (which holds a backslash) unescaped.
    fn unescape<'a>(
        self,
        text: &'a str,
        from: usize,
        to: usize,
        escapes: Escapes,
        arena: &'a Bump,
    ) -> &'a str {
        unescape(&text[from..to], escapes, arena)
    }
}

/// Whether a field value starting with `b` is read as a number (`N` and `n`
/// too, so that NaN is an invalid number); any other unquoted value is a
/// boolean.
#[inline(always)]
fn is_number_start(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'.' | b'-' | b'N' | b'n')
}

/// A number as the field value it is.
#[inline(always)]
fn field_of<'a>(number: Number) -> FieldValue<'a> {
    match number {
        Number::Float(x) => FieldValue::Float(x),
        Number::Integer(x) => FieldValue::Integer(x),
        Number::Unsigned(x) => FieldValue::Unsigned(x),
    }
}

/// [`Values::string_special`] with `memchr3`.
#[inline(always)]
fn find_string_special(buf: &[u8], from: usize) -> usize {
    let rest = buf.get(from..).unwrap_or_default();
    memchr::memchr3(b'"', b'\\', b'\n', rest).map_or(buf.len(), |k| from + k)
}

/// Byte-by-byte scanners, for every CPU.
#[derive(Clone, Copy)]
struct Scalar;

impl Values for Scalar {
    #[inline(always)]
    fn number(
        self,
        buf: &[u8],
        start: usize,
        _: Option<usize>,
    ) -> Result<(Number, usize), LineErrorKind> {
        scan_number(buf, start)
    }
    #[inline(always)]
    fn timestamp(
        self,
        buf: &[u8],
        start: usize,
        _: Option<usize>,
    ) -> Result<(i64, usize), LineErrorKind> {
        scan_timestamp(buf, start)
    }
}

/// 16-digits-at-a-time scanners that find the token's end themselves; only
/// made where the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Values for Avx2 {
    #[inline(always)]
    fn number(
        self,
        buf: &[u8],
        start: usize,
        known_end: Option<usize>,
    ) -> Result<(Number, usize), LineErrorKind> {
        // SAFETY: an `Avx2` exists only where the CPU has AVX2.
        match unsafe { avx2::number(buf, start, known_end) } {
            Some(found) => Ok(found),
            None => scan_number(buf, start),
        }
    }
    #[inline(always)]
    fn timestamp(
        self,
        buf: &[u8],
        start: usize,
        known_end: Option<usize>,
    ) -> Result<(i64, usize), LineErrorKind> {
        // SAFETY: as above.
        match unsafe { avx2::timestamp(buf, start, known_end) } {
            Some(found) => Ok(found),
            None => scan_timestamp(buf, start),
        }
    }
    #[inline(always)]
    fn walk_number<'a>(
        self,
        buf: &[u8],
        start: usize,
        known_end: usize,
    ) -> Option<(FieldValue<'a>, usize)> {
        // SAFETY: as above.
        let (number, end) = match unsafe { avx2::number(buf, start, Some(known_end)) } {
            Some(found) => found,
            None => scan_number(buf, start).ok()?,
        };
        Some((field_of(number), end))
    }
    #[inline(always)]
    fn unescape<'a>(
        self,
        text: &'a str,
        from: usize,
        to: usize,
        escapes: Escapes,
        arena: &'a Bump,
    ) -> &'a str {
        // SAFETY: an `Avx2` exists only where the CPU has AVX2; `text` is UTF-8
        // and token bounds are char boundaries.
        match unsafe { escape::avx2::unescape(text.as_bytes(), from, to, escapes, arena) } {
            Some(out) => out,
            None => unescape(&text[from..to], escapes, arena),
        }
    }
    #[inline(always)]
    fn general_line<'a, C: Cursor>(
        self,
        parser: &mut LineParser<'a, C, Self>,
        start: usize,
        line_no: usize,
    ) -> Result<usize, LineErrorKind> {
        // SAFETY: as above.
        unsafe { general_line_avx2(parser, start, line_no) }
    }
    #[inline(always)]
    fn plain_line<'a, C: Cursor, const ESC: bool>(
        self,
        parser: &mut LineParser<'a, C, Self>,
        start: usize,
        line_no: usize,
    ) -> Option<usize> {
        // SAFETY: as above.
        unsafe { plain_line_avx2::<C, ESC>(parser, start, line_no) }
    }
    #[inline(always)]
    fn string_end(self, buf: &[u8], from: usize) -> Option<(usize, bool, usize)> {
        // SAFETY: as above.
        unsafe { avx2::string_end(buf, from) }
    }
    #[inline(always)]
    fn string_special(self, buf: &[u8], from: usize) -> usize {
        // Most values end (or escape) within 32 bytes: one inline compare
        // of those spares `memchr3` its set-up.
        if from + 32 > buf.len() {
            return find_string_special(buf, from);
        }
        // SAFETY: as above, and the 32 bytes are in `buf`.
        match unsafe { avx2::string_special(buf, from) } {
            Some(k) => from + k,
            None => find_string_special(buf, from + 32),
        }
    }
}

/// Parses a whole body with a chosen block classifier (tests run them all).
pub fn parse_with_kernel<'a>(
    body: &'a [u8],
    precision: Precision,
    arena: &'a Bump,
    kernel: Kernel,
) -> Result<ParsedBody<'a>, BodyError> {
    parse_with_kernel_and_options(body, ParseOptions::new(precision), arena, kernel)
}

/// [`LineParser::parse_line`] compiled for AVX2, like [`parse_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
#[inline(never)]
fn general_line_avx2<'a, C: Cursor>(
    parser: &mut LineParser<'a, C, Avx2>,
    start: usize,
    line_no: usize,
) -> Result<usize, LineErrorKind> {
    parser.parse_line(start, line_no)
}

/// [`LineParser::parse_plain_line`] compiled for AVX2, like [`parse_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
#[inline(never)]
fn plain_line_avx2<'a, C: Cursor, const ESC: bool>(
    parser: &mut LineParser<'a, C, Avx2>,
    start: usize,
    line_no: usize,
) -> Option<usize> {
    parser.parse_plain_line::<ESC>(start, line_no)
}

/// Parses with one `memchr` search per delimiter instead of block bitmaps;
/// kept so the bench can show what the bitmaps buy.
pub fn parse_with_memchr<'a>(
    body: &'a [u8],
    precision: Precision,
    arena: &'a Bump,
) -> Result<ParsedBody<'a>, BodyError> {
    parse_body(
        body,
        false,
        ParseOptions::new(precision),
        arena,
        MemchrCursor::new(body),
        Scalar,
        true,
    )
}

#[inline(always)]
fn parse_body<'a, C: Cursor, V: Values>(
    body: &'a [u8],
    ascii: bool,
    options: ParseOptions,
    arena: &'a Bump,
    cursor: C,
    values: V,
    plain: bool,
) -> Result<ParsedBody<'a>, BodyError> {
    // A body the classifier found all ASCII is UTF-8 already.
    let text = match ascii {
        true => {
            debug_assert!(body.is_ascii());
            // SAFETY: ASCII is valid UTF-8.
            unsafe { std::str::from_utf8_unchecked(body) }
        }
        false => validate_utf8(body)?,
    };
    // Realistic lines are over 64 bytes with a field per 20; a body of tiny
    // lines just grows its vectors once or twice.
    let mut parser = LineParser {
        buf: body,
        text,
        cursor,
        values,
        arena,
        plain,
        walk_backoff: [Backoff::default(); 2],
        precision: options.precision,
        max_line_length: options.max_line_length,
        tags: ArenaVec::with_capacity_in(body.len() / 32 + 8, arena),
        fields: ArenaVec::with_capacity_in(body.len() / 16 + 8, arena),
        line_tags: 0,
        line_fields: 0,
        time_tag: false,
        time_field: false,
        inner_newlines: 0,
        points: Vec::with_capacity(body.len() / 64 + 8),
    };
    let mut errors = ArenaVec::new_in(arena);
    parser.run(&mut errors);
    let raw = parser.points;
    // Every line's tags and fields went straight into two shared vectors; now
    // that they no longer grow, each point can borrow its part.
    let tags = parser.tags.into_bump_slice();
    let fields = parser.fields.into_bump_slice();
    let mut points = ArenaVec::with_capacity_in(raw.len(), arena);
    points.extend(raw.into_iter().map(|p: RawPoint<'a>| Point {
        measurement: p.measurement,
        tags: &tags[p.tags.0 as usize..p.tags.1 as usize],
        fields: &fields[p.fields.0 as usize..p.fields.1 as usize],
        timestamp: p.timestamp,
        line: p.line,
    }));
    Ok(ParsedBody { points, errors })
}

fn validate_utf8(body: &[u8]) -> Result<&str, BodyError> {
    match simdutf8::basic::from_utf8(body) {
        Ok(text) => Ok(text),
        Err(_) => {
            // Only on failure: the slower validator says where.
            let offset = simdutf8::compat::from_utf8(body)
                .err()
                .map_or(0, |e| e.valid_up_to());
            let line = memchr::memchr_iter(b'\n', &body[..offset]).count() + 1;
            Err(BodyError::InvalidUtf8 { line, offset })
        }
    }
}

struct LineParser<'a, C, V> {
    buf: &'a [u8],
    text: &'a str,
    cursor: C,
    values: V,
    arena: &'a Bump,
    /// Whether lines are first tried with the plain-line walks.
    plain: bool,
    /// When the walk without escapes and the walk with them try lines.
    walk_backoff: [Backoff; 2],
    precision: Precision,
    max_line_length: usize,
    /// Tags and fields of every accepted line so far, then the current one's
    /// from `line_tags` and `line_fields` on (cut off again if it fails).
    tags: ArenaVec<'a, Tag<'a>>,
    fields: ArenaVec<'a, Field<'a>>,
    line_tags: usize,
    line_fields: usize,
    /// The current line has a tag or field key spelled `time` (InfluxDB reserves it).
    time_tag: bool,
    time_field: bool,
    /// Newlines inside the current line (quoted strings, escaped newlines).
    inner_newlines: usize,
    /// The lines parsed so far.
    points: Vec<RawPoint<'a>>,
}

/// A parsed line whose tags and fields sit in the parser's shared vectors.
struct RawPoint<'a> {
    measurement: &'a str,
    tags: (u32, u32),
    fields: (u32, u32),
    timestamp: Option<i64>,
    line: usize,
}

/// When a walk tries lines: bodies whose lines it misses (escapes
/// everywhere, or errors) stop trying it first. After k misses in a row it
/// sits out the next 2^k - 1 lines (k at most 6).
#[derive(Clone, Copy, Default)]
struct Backoff {
    misses: u32,
    /// The first line it tries again.
    from: usize,
}

impl Backoff {
    #[inline(always)]
    fn tries(self, line_no: usize) -> bool {
        line_no >= self.from
    }

    #[inline(always)]
    fn missed(&mut self, line_no: usize) {
        // A miss on the first line tried after sitting out is another miss
        // in a row.
        self.misses = match line_no == self.from {
            true => (self.misses + 1).min(6),
            false => 1,
        };
        self.from = line_no + (1 << self.misses);
    }
}

/// InfluxDB skips these before a line, its fields and its timestamp.
#[inline(always)]
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0)
}

impl<'a, C: Cursor, V: Values> LineParser<'a, C, V> {
    // Inlines into `parse_body`, so that the AVX2 build of it compiles the
    // line loop with AVX2; the walk and the general parser are called out of
    // line through `Values`, each built for the same features.
    #[inline(always)]
    fn run(&mut self, errors: &mut ArenaVec<'a, LineError<'a>>) {
        let buf = self.buf;
        let mut pos = 0;
        let mut line_no = 1;
        while pos < buf.len() {
            let mut start = pos;
            while start < buf.len() && is_blank(buf[start]) {
                start += 1;
            }
            if is_line_end(buf, start) || buf[start] == b'#' {
                // Blank line or comment: it ends at the next newline.
                let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |i| start + i);
                pos = end + 1;
                line_no += 1;
                continue;
            }
            self.inner_newlines = 0;
            // The walk without escapes first, then the one with them; a
            // line neither takes (or a wrong one) goes to the general
            // parser, which decides alone.
            let values = self.values;
            let mut walked = None;
            if self.plain && self.walk_backoff[0].tries(line_no) {
                walked = values.plain_line::<C, false>(self, start, line_no);
                if walked.is_none() {
                    self.walk_missed(0, start, line_no);
                }
            }
            if walked.is_none() && self.plain && self.walk_backoff[1].tries(line_no) {
                walked = values.plain_line::<C, true>(self, start, line_no);
                if walked.is_none() {
                    self.walk_missed(1, start, line_no);
                }
            }
            let parsed = match walked {
                Some(found) => Ok(found),
                None => values.general_line(self, start, line_no),
            };
            let parsed = match parsed {
                Ok(end) if end - start > self.max_line_length => {
                    self.points.pop();
                    Err(LineErrorKind::LineTooLong {
                        length: end - start,
                        limit: self.max_line_length,
                    })
                }
                other => other,
            };
            let end = match parsed {
                Ok(end) => end,
                Err(kind) => {
                    self.drop_line();
                    let end = scan_line_end(buf, pos);
                    let mut text_end = end;
                    if text_end > start && buf[text_end - 1] == b'\r' {
                        text_end -= 1;
                    }
                    self.inner_newlines = memchr::memchr_iter(b'\n', &buf[start..end]).count();
                    errors.push(LineError {
                        line: line_no,
                        text: &self.text[start..text_end],
                        kind,
                    });
                    end
                }
            };
            line_no += 1 + self.inner_newlines;
            // `end` is the line's `\n`, the `\r` of its CRLF, or the body's end.
            pos = end + if buf.get(end) == Some(&b'\r') { 2 } else { 1 };
        }
    }

    /// Walk `k` missed the line at `start`: back to a clean slate.
    #[inline(always)]
    fn walk_missed(&mut self, k: usize, start: usize, line_no: usize) {
        self.drop_line();
        self.inner_newlines = 0;
        self.cursor.rewind(start);
        self.walk_backoff[k].missed(line_no);
    }

    /// A line begins: its tags and fields go after the accepted lines'.
    #[inline(always)]
    fn start_line(&mut self) {
        self.line_tags = self.tags.len();
        self.line_fields = self.fields.len();
        self.time_tag = false;
        self.time_field = false;
    }

    /// The current line's tags and fields go (it failed, or goes to the
    /// general parser).
    #[inline(always)]
    fn drop_line(&mut self) {
        self.tags.truncate(self.line_tags);
        self.fields.truncate(self.line_fields);
    }

    /// The current line, parsed, as a point over its tags and fields. The
    /// walk pushes it itself: handing it back to the line loop through
    /// memory cost a store-forwarding stall per line.
    #[inline(always)]
    fn push_point(&mut self, measurement: &'a str, timestamp: Option<i64>, line_no: usize) {
        self.points.push(RawPoint {
            measurement,
            tags: (self.line_tags as u32, self.tags.len() as u32),
            fields: (self.line_fields as u32, self.fields.len() as u32),
            timestamp,
            line: line_no,
        });
    }

    /// The body's text from `from` to `to`, unchecked: in the plain-line
    /// walk the bounds checks were 6% of its instructions. Safety:
    /// `from <= to <= len`, which the walk gets from the [`Cursor`] contract
    /// (every `to` is a position the walk popped, every `from` one past a
    /// structural byte popped before it, or the line's start it began at).
    #[inline(always)]
    unsafe fn walk_str(&self, from: usize, to: usize) -> &'a str {
        debug_assert!(self.text.is_char_boundary(from) && self.text.is_char_boundary(to));
        debug_assert!(from <= to && to <= self.text.len());
        // SAFETY: bounds as the caller promised; `text` is valid UTF-8 and
        // token bounds are ASCII delimiters or the body's ends, so both are
        // char boundaries.
        unsafe { self.text.get_unchecked(from..to) }
    }

    /// Walks from the token at `start` to the first key delimiter not
    /// preceded by a backslash: `,` space `\n` always, `=` when
    /// `stop_at_equals`. Returns its index (or the body's length) and whether
    /// the token holds a backslash.
    #[inline(always)]
    fn key_end(&mut self, start: usize, stop_at_equals: bool) -> (usize, bool) {
        let buf = self.buf;
        let mut escaped = buf[start] == b'\\';
        let mut i = match escaped {
            true => self.skip_escape(start),
            false => start + 1,
        };
        loop {
            i = self.cursor.next_at_or_after(i);
            let Some(&b) = buf.get(i) else {
                return (i, escaped);
            };
            match b {
                b'\\' => {
                    escaped = true;
                    i = self.skip_escape(i);
                    continue;
                }
                b'"' => {}
                b'=' if !stop_at_equals => {}
                _ => return (i, escaped),
            }
            i += 1;
        }
    }

    /// From the backslash at `i`: the index past the byte its run of
    /// backslashes escapes (a byte right after a backslash never ends a
    /// token), counting that byte if it is a newline (the line goes on).
    #[inline(always)]
    fn skip_escape(&mut self, i: usize) -> usize {
        let buf = self.buf;
        let j = escaped_byte(buf, i);
        self.inner_newlines += (buf.get(j) == Some(&b'\n')) as usize;
        (j + 1).min(buf.len())
    }

    /// The token `text[from..to]`, unescaped when it holds a backslash.
    #[inline(always)]
    fn token(&self, from: usize, to: usize, escaped: bool, escapes: Escapes) -> &'a str {
        assert!(from <= to && to <= self.text.len());
        // SAFETY: the bounds were just checked.
        unsafe { self.walk_token(from, to, escaped, escapes) }
    }

    /// The field value at `v` (not empty) and the index of the byte after
    /// it; `known_end` as for [`Values::number`].
    #[inline(always)]
    fn field_value(
        &mut self,
        v: usize,
        known_end: Option<usize>,
    ) -> Result<(FieldValue<'a>, usize), LineErrorKind> {
        let buf = self.buf;
        match buf[v] {
            b if is_number_start(b) => {
                let (number, end) = self.values.number(buf, v, known_end)?;
                Ok((field_of(number), end))
            }
            b'"' => {
                let (s, end) = self.scan_string(v)?;
                Ok((FieldValue::String(s), end))
            }
            _ => {
                let (b, end) = scan_boolean(buf, v)?;
                Ok((FieldValue::Boolean(b), end))
            }
        }
    }

    /// Adds a tag to the current line. Writers (Telegraf, the client
    /// libraries) send tags sorted by key, and strictly increasing keys are
    /// distinct: each key's `prefix` (its first eight bytes) is compared with
    /// the previous one's, and only a line whose keys do not strictly
    /// increase on them (`maybe_duplicate`) is checked pair by pair.
    #[inline(always)]
    fn add_tag(
        &mut self,
        tag: Tag<'a>,
        prefix: u64,
        previous: &mut u64,
        maybe_duplicate: &mut bool,
    ) {
        *maybe_duplicate |= prefix <= *previous;
        *previous = prefix;
        self.time_tag |= tag.key == "time";
        push(&mut self.tags, tag);
    }

    /// Adds a field to the current line; `seen` filters this line's keys.
    #[inline(always)]
    fn add_field(&mut self, key: &'a str, value: FieldValue<'a>, seen: &mut u64) {
        // A repeated key keeps the last value, in the first one's place.
        let bit = 1u64 << key_hash(key.as_bytes());
        let existing = if *seen & bit != 0 {
            self.fields[self.line_fields..]
                .iter()
                .position(|f| f.key == key)
                .map(|k| self.line_fields + k)
        } else {
            None
        };
        *seen |= bit;
        match existing {
            Some(k) => self.fields[k].value = value,
            None => {
                self.time_field |= key == "time";
                push(&mut self.fields, Field { key, value })
            }
        }
    }

    /// Parses the line at `start` if it is plain (no escapes outside string
    /// values, single spaces between its sections, every token where the
    /// grammar wants it, and valid): pushes its point and returns the index
    /// of the byte that ends it. Its structural bytes are taken in turn from
    /// the walk, so each costs a bit scan instead of a search. `None` for anything else (including
    /// every error): the caller then parses the line with [`Self::parse_line`],
    /// which decides alone what a line means, so the two never disagree on
    /// what is accepted. With `ESC` it also takes escapes in the
    /// measurement, tag keys and values, and field keys (see
    /// [`Self::pop_token_end`]); it is a second build of the walk, so that
    /// lines without escapes pay nothing for them.
    #[inline(always)]
    fn parse_plain_line<const ESC: bool>(&mut self, start: usize, line_no: usize) -> Option<usize> {
        let buf = self.buf;
        self.start_line();
        self.cursor.begin(start);
        // The walk runs on a copy of the cursor, which stays in registers
        // (the parser's own is in memory, and every pop would store its
        // mask and load it back); it goes back into the parser only when
        // the line is accepted, as a miss rewinds to the `begin` anyway.
        let mut cursor = self.cursor;

        // Measurement: up to a `,` or space (a structural first byte, such as
        // an escape, is the general parser's).
        let mut escaped = false;
        let mut s = Self::pop_token_end::<ESC>(buf, &mut cursor, &mut escaped)?;
        if s == start {
            return None;
        }
        // SAFETY (every `walk_str` and `walk_token` below): `start < len`
        // began the walk, and each bound is a popped position or one past a
        // popped `,`, `=` or space (so below `len`); the Cursor contract
        // orders them.
        let measurement = unsafe { self.walk_token(start, s, escaped, Escapes::NameOrFieldKey) };
        if *buf.get(s)? == b',' {
            let mut previous = 0u64;
            let mut maybe_duplicate = false;
            loop {
                let key_start = s + 1;
                let mut key_escaped = false;
                let equals = Self::pop_token_end::<ESC>(buf, &mut cursor, &mut key_escaped)?;
                if equals == key_start || buf.get(equals) != Some(&b'=') {
                    return None;
                }
                let mut value_escaped = false;
                s = Self::pop_token_end::<ESC>(buf, &mut cursor, &mut value_escaped)?;
                if s == equals + 1 {
                    return None;
                }
                let (key, value) = unsafe {
                    (
                        self.walk_token(key_start, equals, key_escaped, Escapes::Tag),
                        self.walk_token(equals + 1, s, value_escaped, Escapes::Tag),
                    )
                };
                let prefix = match key_escaped {
                    true => key_prefix(key.as_bytes()),
                    false => key_prefix_at(buf, key_start, equals),
                };
                self.add_tag(
                    Tag { key, value },
                    prefix,
                    &mut previous,
                    &mut maybe_duplicate,
                );
                match buf.get(s) {
                    Some(b',') => {}
                    Some(b' ') => break,
                    _ => return None,
                }
            }
            if maybe_duplicate && has_duplicate_keys(&self.tags[self.line_tags..]) {
                return None;
            }
        } else if buf[s] != b' ' {
            return None;
        }
        let key_len = s - start;

        // Fields, from just past the one space (the general parser skips
        // more blanks).
        match buf.get(s + 1) {
            Some(&b) if !is_blank(b) => {}
            _ => return None,
        }
        let mut seen = 0u64;
        let mut longest_key = 0;
        loop {
            let key_start = s + 1;
            let mut key_escaped = false;
            let equals = Self::pop_token_end::<ESC>(buf, &mut cursor, &mut key_escaped)?;
            if equals == key_start || buf.get(equals) != Some(&b'=') {
                return None;
            }
            let v = equals + 1;
            s = cursor.pop();
            // A value is taken where it is made (a string's `Result` matched
            // in place, a number built as an `Option` of its field value):
            // converting a `Result` with `.ok()?` made some builds copy the
            // value through the stack with loads wider than its stores (a
            // store-forwarding stall).
            let (value, end) = if s == v {
                // Only a string starts with a structural byte; it finds its
                // own end, and the walk goes on from there.
                if buf.get(v) != Some(&b'"') {
                    return None;
                }
                // The string's scan searches with the parser's cursor.
                self.cursor = cursor;
                let Ok(found) = self.field_value(v, None) else {
                    return None;
                };
                cursor = self.cursor;
                cursor.seek(found.1);
                s = cursor.pop();
                found
            } else {
                // The value must end at the next structural byte; it
                // cannot be a string (a `"` is structural).
                match is_number_start(buf[v]) {
                    true => self.values.walk_number(buf, v, s),
                    false => scan_boolean(buf, v)
                        .ok()
                        .map(|(b, end)| (FieldValue::Boolean(b), end)),
                }?
            };
            if end != s && !is_crlf(buf, end, s) {
                return None;
            }
            longest_key = longest_key.max(equals - key_start);
            let key =
                unsafe { self.walk_token(key_start, equals, key_escaped, Escapes::NameOrFieldKey) };
            self.add_field(key, value, &mut seen);
            match buf.get(s) {
                Some(b',') => {}
                Some(b' ') => break,
                None | Some(b'\n') => {
                    // The line ends where the general parser says: at the
                    // `\r` of a CRLF.
                    s = end;
                    break;
                }
                _ => return None,
            }
        }
        if key_len + 4 + longest_key > MAX_KEY_LENGTH || self.time_tag || self.time_field {
            return None;
        }

        // Timestamp: one token up to the line's end.
        let mut timestamp = None;
        if buf.get(s) == Some(&b' ') {
            let t = s + 1;
            match buf.get(t) {
                Some(&b) if !is_blank(b) => {}
                _ => return None,
            }
            s = cursor.pop();
            if s == t || !matches!(buf.get(s), None | Some(b'\n')) {
                return None;
            }
            let (raw, end) = self.values.timestamp(buf, t, Some(s)).ok()?;
            if end != s && !is_crlf(buf, end, s) {
                return None;
            }
            timestamp = Some(self.precision.to_nanos(raw).ok()?);
            s = end;
        }
        self.push_point(measurement, timestamp, line_no);
        self.cursor = cursor;
        Some(s)
    }

    /// The walk's next structural byte, as [`Cursor::pop`]. With `ESC`, a
    /// backslash there is no end: its run of backslashes and the byte they
    /// escape belong to the token (as in [`Self::key_end`]), which is marked
    /// `escaped`, and the end is the next structural byte after them.
    /// `None` for an escape at the body's end or before a newline (the
    /// general parser counts a line's inner newlines).
    #[inline(always)]
    fn pop_token_end<const ESC: bool>(
        buf: &[u8],
        cursor: &mut C,
        escaped: &mut bool,
    ) -> Option<usize> {
        let mut s = cursor.pop();
        if ESC {
            while buf.get(s) == Some(&b'\\') {
                *escaped = true;
                let j = escaped_byte(buf, s);
                match buf.get(j) {
                    None | Some(b'\n') => return None,
                    Some(_) => {}
                }
                cursor.seek(j + 1);
                s = cursor.pop();
            }
        }
        Some(s)
    }

    /// [`Self::token`] without the bounds check, for the walk. Safety as
    /// for [`Self::walk_str`].
    #[inline(always)]
    unsafe fn walk_token(
        &self,
        from: usize,
        to: usize,
        escaped: bool,
        escapes: Escapes,
    ) -> &'a str {
        match escaped {
            true => self
                .values
                .unescape(self.text, from, to, escapes, self.arena),
            // SAFETY: as the caller promised.
            false => unsafe { self.walk_str(from, to) },
        }
    }

    /// The walk as its own function, for the builds without CPU features
    /// of their own (see [`Values::plain_line`]).
    #[inline(never)]
    fn parse_plain_line_out_of_line<const ESC: bool>(
        &mut self,
        start: usize,
        line_no: usize,
    ) -> Option<usize> {
        self.parse_plain_line::<ESC>(start, line_no)
    }

    /// The general parser as its own function, likewise.
    #[inline(never)]
    fn parse_line_out_of_line(
        &mut self,
        start: usize,
        line_no: usize,
    ) -> Result<usize, LineErrorKind> {
        self.parse_line(start, line_no)
    }

    /// Parses the line at `start`. On success pushes its point and returns
    /// the index of the byte that ends the line.
    #[inline(always)]
    fn parse_line(&mut self, start: usize, line_no: usize) -> Result<usize, LineErrorKind> {
        let buf = self.buf;
        self.start_line();

        // Measurement.
        if buf[start] == b',' {
            return Err(LineErrorKind::MissingMeasurement);
        }
        let (mut i, escaped) = self.key_end(start, false);
        if is_line_end_or_newline(buf, i) {
            return Err(LineErrorKind::MissingFields);
        }
        let measurement = self.token(start, i, escaped, Escapes::NameOrFieldKey);

        // Tags.
        if buf[i] == b',' {
            i = self.parse_tags(i + 1)?;
        }
        let key_len = i - start;
        if key_len > MAX_KEY_LENGTH {
            return Err(LineErrorKind::KeyTooLong(key_len));
        }

        // Fields: `i` is at the space that ends the key.
        i += 1;
        while i < buf.len() && is_blank(buf[i]) {
            i += 1;
        }
        let (mut i, has_timestamp, longest_field_key) = self.parse_fields(i)?;
        if key_len + 4 + longest_field_key > MAX_KEY_LENGTH {
            return Err(LineErrorKind::KeyTooLong(key_len + 4 + longest_field_key));
        }

        // Timestamp.
        let mut timestamp = None;
        if has_timestamp {
            while i < buf.len() && is_blank(buf[i]) {
                i += 1;
            }
            if !is_line_end(buf, i) {
                let (raw, end) = self.values.timestamp(buf, i, None)?;
                let ns = self.precision.to_nanos(raw)?;
                i = end;
                while i < buf.len() && buf[i] == b' ' {
                    i += 1;
                }
                if !is_line_end(buf, i) {
                    return Err(LineErrorKind::TrailingGarbage);
                }
                timestamp = Some(ns);
            }
        }

        // InfluxDB reserves `time`; it rejects the point after parsing it.
        if self.time_tag {
            return Err(LineErrorKind::TimeTagKey {
                measurement: measurement.to_owned(),
            });
        }
        if self.time_field {
            return Err(LineErrorKind::TimeFieldKey {
                measurement: measurement.to_owned(),
            });
        }
        self.push_point(measurement, timestamp, line_no);
        Ok(i)
    }

    /// Parses `key=value[,key=value…]` from `i` (just past the measurement's
    /// comma) and returns the index of the space that ends the tag set.
    #[inline(always)]
    fn parse_tags(&mut self, mut i: usize) -> Result<usize, LineErrorKind> {
        let buf = self.buf;
        // Duplicate keys are screened by their prefixes (see `add_tag`).
        let mut previous = 0u64;
        let mut maybe_duplicate = false;
        loop {
            // Tag key: its first byte is checked apart, as InfluxDB does.
            match buf.get(i) {
                None | Some(b' ' | b',' | b'=' | b'\n') => {
                    return Err(LineErrorKind::MissingTagKey)
                }
                _ => {}
            }
            let key_start = i;
            let (key_end, escaped_key) = self.key_end(i, true);
            if buf.get(key_end) != Some(&b'=') {
                return Err(LineErrorKind::MissingTagValue);
            }
            let key = self.token(key_start, key_end, escaped_key, Escapes::Tag);

            // Tag value: may start with `=` (InfluxDB checks only `,` and space).
            let value_start = key_end + 1;
            match buf.get(value_start) {
                None | Some(b' ' | b',' | b'\n') => return Err(LineErrorKind::MissingTagValue),
                _ => {}
            }
            let (value_end, escaped) = self.key_end(value_start, true);
            let value = self.token(value_start, value_end, escaped, Escapes::Tag);

            let prefix = if escaped_key {
                key_prefix(key.as_bytes())
            } else {
                key_prefix_at(buf, key_start, key_end)
            };
            self.add_tag(
                Tag { key, value },
                prefix,
                &mut previous,
                &mut maybe_duplicate,
            );

            match buf.get(value_end) {
                Some(b',') => i = value_end + 1,
                Some(b' ') => {
                    if maybe_duplicate && has_duplicate_keys(&self.tags[self.line_tags..]) {
                        return Err(LineErrorKind::DuplicateTags);
                    }
                    return Ok(value_end);
                }
                Some(b'=') => return Err(LineErrorKind::InvalidTagFormat),
                _ => return Err(LineErrorKind::MissingFields),
            }
        }
    }

    /// Parses the field set from `i`. Returns where it stopped, whether a
    /// timestamp may follow (the set ended with a space), and the longest raw
    /// field key (for the series-key limit).
    #[inline(always)]
    fn parse_fields(&mut self, mut i: usize) -> Result<(usize, bool, usize), LineErrorKind> {
        let buf = self.buf;
        let mut seen = 0u64;
        let mut longest_key = 0;
        loop {
            // Field key.
            match buf.get(i) {
                Some(b'=') => return Err(LineErrorKind::MissingFieldKey),
                Some(b',' | b' ') | None => return Err(LineErrorKind::InvalidFieldFormat),
                _ if is_line_end_or_newline(buf, i) => {
                    return Err(LineErrorKind::InvalidFieldFormat)
                }
                _ => {}
            }
            let key_start = i;
            let (key_end, escaped) = self.key_end(i, true);
            if buf.get(key_end) != Some(&b'=') {
                return Err(LineErrorKind::InvalidFieldFormat);
            }
            longest_key = longest_key.max(key_end - key_start);
            let key = self.token(key_start, key_end, escaped, Escapes::NameOrFieldKey);

            // Field value.
            let v = key_end + 1;
            match buf.get(v) {
                None | Some(b',' | b' ') => return Err(LineErrorKind::MissingFieldValue),
                _ if is_line_end(buf, v) => return Err(LineErrorKind::MissingFieldValue),
                _ => {}
            }
            let (value, end) = self.field_value(v, None)?;
            self.add_field(key, value, &mut seen);

            match buf.get(end) {
                Some(b',') => i = end + 1,
                Some(b' ') => return Ok((end + 1, true, longest_key)),
                _ => return Ok((end, false, longest_key)),
            }
        }
    }

    /// Scans a double-quoted string whose opening quote is at `open`.
    /// Returns the unescaped value and the index just past the closing quote.
    /// Out of line: kept apart from the number-dense loop that most fields take.
    #[inline(never)]
    fn scan_string(&mut self, open: usize) -> Result<(&'a str, usize), LineErrorKind> {
        let buf = self.buf;
        let (i, escaped) = match self.values.string_end(buf, open + 1) {
            Some((close, escaped, newlines)) => {
                self.inner_newlines += newlines;
                (close, escaped)
            }
            None => self.string_close(open)?,
        };
        let value = self.token(open + 1, i, escaped, Escapes::StringValue);
        let end = i + 1;
        // InfluxDB 1.x would fold bytes after the closing quote into the value;
        // that garbles data, so (as InfluxDB 3 does) we reject the line.
        match buf.get(end) {
            Some(b',' | b' ') => Ok((value, end)),
            _ if is_line_end(buf, end) => Ok((value, end)),
            // Name the error InfluxDB would: a later quote left open wins.
            _ if quote_left_open(buf, end) => Err(LineErrorKind::UnbalancedQuotes),
            _ => Err(LineErrorKind::InvalidFieldFormat),
        }
    }

    /// The closing quote of the string value opened at `open`, scanned one
    /// escape at a time, and whether a backslash comes before it.
    #[inline(always)]
    fn string_close(&mut self, open: usize) -> Result<(usize, bool), LineErrorKind> {
        let buf = self.buf;
        let mut escaped = false;
        // Only `"`, `\\` and `\n` matter inside a string. The structural
        // bitmap answers first (short values end at the next structural
        // byte); past a space, comma or `=` (log-like values hold one every
        // few bytes) or an escape, the rest is searched for those three.
        let mut i = self.cursor.next_at_or_after(open + 1);
        loop {
            match buf.get(i) {
                None => return Err(LineErrorKind::UnbalancedQuotes),
                Some(b'"') => break,
                Some(b'\\') => {
                    // A backslash takes the next byte with it, whatever it is.
                    escaped = true;
                    if buf.get(i + 1) == Some(&b'\n') {
                        self.inner_newlines += 1;
                    }
                    i = self.values.string_special(buf, i + 2);
                }
                Some(b'\n') => {
                    self.inner_newlines += 1;
                    i = self.values.string_special(buf, i + 1);
                }
                Some(_) => i = self.values.string_special(buf, i + 1),
            }
        }
        Ok((i, escaped))
    }
}

/// The index of the byte that the backslash at `i` escapes: the first one
/// past its run of backslashes (or the body's length).
#[inline(always)]
fn escaped_byte(buf: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while buf.get(j) == Some(&b'\\') {
        j += 1;
    }
    j
}

/// Whether a value that ended at `end` and the structural byte `s` after it
/// are a CRLF line end.
#[inline(always)]
fn is_crlf(buf: &[u8], end: usize, s: usize) -> bool {
    end + 1 == s && buf.get(end) == Some(&b'\r') && buf.get(s) == Some(&b'\n')
}

/// `Vec::push`, certain to inline into the parser's loop (the inliner gives
/// up on bumpalo's inside a function this large).
#[inline(always)]
fn push<T>(v: &mut ArenaVec<'_, T>, x: T) {
    if v.len() == v.capacity() {
        v.reserve(1);
    }
    let len = v.len();
    // SAFETY: the reserve made room for one more past `len`, and `set_len`
    // covers only the element just written.
    unsafe {
        v.as_mut_ptr().add(len).write(x);
        v.set_len(len + 1);
    }
}

#[inline(always)]
fn is_line_end_or_newline(buf: &[u8], i: usize) -> bool {
    i >= buf.len() || buf[i] == b'\n'
}

/// A cheap 6-bit fingerprint of a field key for the repeated-key filter:
/// length and first and last byte (a false hit only costs a scan of this
/// line's keys). Keys are never empty.
#[inline(always)]
fn key_hash(key: &[u8]) -> u32 {
    let (first, last) = (key[0] as u32, key[key.len() - 1] as u32);
    ((key.len() as u32) << 2 ^ last ^ first << 3) & 63
}

/// A key's first eight bytes as a big-endian number (zero past its end), so
/// that comparing two prefixes compares the keys in byte order, except
/// that keys equal on their first eight bytes compare equal.
#[inline(always)]
fn key_prefix(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

/// [`key_prefix`] of the unescaped key `buf[from..to]`, read in place with
/// one load while eight bytes are left in the body.
#[inline(always)]
fn key_prefix_at(buf: &[u8], from: usize, to: usize) -> u64 {
    match buf.get(from..from + 8) {
        Some(word) => {
            let word = u64::from_be_bytes(word.try_into().expect("8 bytes"));
            let past_end = (!0u64).checked_shr(8 * (to - from) as u32).unwrap_or(0);
            word & !past_end
        }
        None => key_prefix(&buf[from..to]),
    }
}

fn has_duplicate_keys(tags: &[Tag<'_>]) -> bool {
    tags.iter()
        .enumerate()
        .any(|(k, t)| tags[..k].iter().any(|u| u.key == t.key))
}

/// Whether the quotes from `i` to the end of the line leave one open.
fn quote_left_open(buf: &[u8], mut i: usize) -> bool {
    let mut quoted = false;
    while i < buf.len() {
        match buf[i] {
            b'\\' => i += 1,
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ => {}
        }
        i += 1;
    }
    quoted
}

/// InfluxDB 1.x's line splitter, used to find where a rejected line ends: a
/// newline inside a quoted field value does not end the line, and a backslash
/// takes the byte after it. Returns the index of the ending `\n` or the length.
pub(crate) fn scan_line_end(buf: &[u8], mut i: usize) -> usize {
    let (mut quoted, mut in_fields) = (false, false);
    let (mut equals, mut commas) = (0usize, 0usize);
    while i < buf.len() {
        let b = buf[i];
        if b == b'\\' && i + 2 < buf.len() {
            i += 2;
            continue;
        }
        if b == b' ' {
            in_fields = true;
        }
        if in_fields {
            if !quoted && b == b'=' {
                equals += 1;
                i += 1;
                continue;
            } else if !quoted && b == b',' {
                commas += 1;
                i += 1;
                continue;
            } else if b == b'"' && equals > commas {
                quoted = !quoted;
                i += 1;
                continue;
            }
        }
        if b == b'\n' && !quoted {
            break;
        }
        i += 1;
    }
    i
}
