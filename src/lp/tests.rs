//! Parser behaviour the conformance table cannot show (InfluxDB reports no
//! line numbers and has no precision auto-detection), and the round-trip
//! property over generated points.

use bumpalo::Bump;
use proptest::prelude::*;

use super::scan::Kernel;
use super::serialize::write_point;
use super::*;

fn parse_all<'a>(body: &'a str, arena: &'a Bump) -> ParsedBody<'a> {
    parse(body.as_bytes(), Precision::Nanosecond, arena).unwrap()
}

#[test]
fn errors_carry_line_numbers_and_text() {
    let arena = Bump::new();
    let body = "cpu v=1 1\n\n# c\nbad\r\ncpu v=\"a\nb\" 2\n  worse,t= v=1\nmem v=x 3";
    let parsed = parse_all(body, &arena);
    assert_eq!(parsed.points.len(), 2);
    assert_eq!(parsed.points[0].line, 1);
    assert_eq!(parsed.points[1].line, 5);
    let errors: Vec<(usize, &str, String)> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.text, e.kind.to_string()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (4, "bad", "missing fields".to_string()),
            (7, "worse,t= v=1", "missing tag value".to_string()),
            (8, "mem v=x 3", "invalid boolean".to_string()),
        ]
    );
    assert_eq!(
        parsed.errors[0].to_string(),
        "unable to parse 'bad': missing fields"
    );
}

#[test]
fn line_numbers_count_lines_swallowed_by_an_error() {
    let arena = Bump::new();
    let parsed = parse_all("a s=\"x\ny\nz 1\" garbage\nok v=1 1", &arena);
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 1);
    assert_eq!(parsed.points.len(), 1);
    assert_eq!(parsed.points[0].line, 4);
}

/// A newline right after a backslash (even one ending a run of them) is
/// taken into the token, so the line goes on and later line numbers count it.
#[test]
fn escaped_newlines_in_keys_continue_the_line() {
    // (body, the escaped token as parsed)
    let cases: [(&str, &str); 5] = [
        ("m\\\n,t=1 f=1\nok v=1", "m\\\n"),
        ("m,t=a\\\\\nb f=1\nok v=1", "a\\\\\nb"),
        ("m,t\\\\\\\n=1 f=1\nok v=1", "t\\\\\\\n"),
        ("m f\\\\\n=1\nok v=1", "f\\\\\n"),
        ("\\\nm f=1\nok v=1", "\\\nm"),
    ];
    let arena = Bump::new();
    for (body, token) in cases {
        for kernel in Kernel::available() {
            let parsed = parse_with_kernel(body.as_bytes(), Precision::Nanosecond, &arena, kernel)
                .expect("utf-8");
            assert!(parsed.errors.is_empty(), "{body:?}: {:?}", parsed.errors);
            let p = parsed.points[0];
            let mut tokens = vec![p.measurement];
            tokens.extend(p.tags.iter().flat_map(|t| [t.key, t.value]));
            tokens.extend(p.fields.iter().map(|f| f.key));
            assert!(tokens.contains(&token), "{body:?} {kernel:?}: {tokens:?}");
            assert_eq!(parsed.points[1].line, 3, "{body:?} {kernel:?}");
        }
        let parsed = parse_with_memchr(body.as_bytes(), Precision::Nanosecond, &arena).unwrap();
        assert_eq!(parsed.points[1].line, 3, "{body:?} memchr");
    }
}

#[test]
fn unescaped_tokens_borrow_the_body() {
    let arena = Bump::new();
    let body = "cpu,host=a\\ b v=1,s=\"x\" 1";
    let parsed = parse_all(body, &arena);
    let p = parsed.points[0];
    let inside = |s: &str| body.as_bytes().as_ptr_range().contains(&s.as_ptr());
    assert!(inside(p.measurement));
    assert!(inside(p.tags[0].key));
    assert!(!inside(p.tags[0].value), "an escaped value is copied");
    assert_eq!(p.tags[0].value, "a b");
    assert!(inside(p.fields[0].key));
    match p.fields[1].value {
        FieldValue::String(s) => assert!(inside(s)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_utf8_rejects_the_body_and_says_where() {
    let arena = Bump::new();
    let body = b"cpu v=1 1\nmem s=\"\xff\" 2\n";
    let err = parse(body, Precision::Nanosecond, &arena).err().unwrap();
    assert_eq!(
        err,
        BodyError::InvalidUtf8 {
            line: 2,
            offset: 17
        }
    );
    assert!(err.to_string().contains("invalid UTF-8 at line 2"));
}

#[test]
fn auto_precision_is_per_line() {
    let arena = Bump::new();
    let body = "a v=1 1700000000\na v=1 1700000000000\na v=1 1700000000000000\na v=1 1700000000000000000\na v=1";
    let parsed = parse(body.as_bytes(), Precision::Auto, &arena).unwrap();
    let times: Vec<Option<i64>> = parsed.points.iter().map(|p| p.timestamp).collect();
    let t = Some(1_700_000_000_000_000_000);
    assert_eq!(times, vec![t, t, t, t, None]);
}

#[test]
fn lines_over_the_length_limit_are_line_errors() {
    let arena = Bump::new();
    let options = ParseOptions {
        max_line_length: 12,
        ..ParseOptions::new(Precision::Nanosecond)
    };
    let body = b"a v=1 1
longer v=1 123456
b v=2 2
";
    let parsed = parse_with_options(body, options, &arena).unwrap();
    assert_eq!(parsed.points.len(), 2);
    assert_eq!(parsed.points[1].measurement, "b");
    assert_eq!(parsed.points[1].fields[0].value, FieldValue::Float(2.0));
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 2);
    assert_eq!(
        parsed.errors[0].kind,
        LineErrorKind::LineTooLong {
            length: 17,
            limit: 12
        }
    );
}

#[test]
fn precision_out_of_range_is_a_line_error() {
    let arena = Bump::new();
    let parsed = parse(b"a v=1 1\na v=1 9999999999999", Precision::Hour, &arena).unwrap();
    assert_eq!(parsed.points.len(), 1);
    assert_eq!(parsed.errors[0].kind, LineErrorKind::TimeOutOfRange);
    assert_eq!(parsed.errors[0].line, 2);
}

#[test]
fn every_kernel_agrees_on_long_escaped_lines() {
    // Tokens that straddle block boundaries at every offset.
    for pad in 0..70 {
        let body = format!(
            "{}m\\ x,t\\,k=v\\=1 s=\"{}\\\"q\",f=1.5 {pad}\n",
            "w".repeat(pad),
            "y".repeat(pad)
        );
        let expected = {
            let arena = Bump::new();
            let parsed = parse_with_kernel(
                body.as_bytes(),
                Precision::Nanosecond,
                &arena,
                Kernel::Scalar,
            )
            .unwrap();
            assert!(parsed.errors.is_empty(), "{body}");
            format!("{:?}", parsed.points.as_slice())
        };
        for kernel in Kernel::available() {
            let arena = Bump::new();
            let parsed =
                parse_with_kernel(body.as_bytes(), Precision::Nanosecond, &arena, kernel).unwrap();
            assert_eq!(
                format!("{:?}", parsed.points.as_slice()),
                expected,
                "{kernel:?} pad {pad}"
            );
        }
    }
}

#[test]
fn scan_line_end_follows_influxdb() {
    use super::parser::scan_line_end;
    let table: &[(&str, usize)] = &[
        ("a b=1\nc", 5),
        ("a b=\"x\ny\" 1\nc", 11),
        ("a,t=\"x\ny b=1", 6),
        ("a b=1,c=\"x\ny\"", 13),
        ("a\\\nb c=1\n", 8),
        ("no newline", 10),
    ];
    for (input, end) in table {
        assert_eq!(scan_line_end(input.as_bytes(), 0), *end, "{input:?}");
    }
}

// ---- round trip: parse(serialize(points)) == points -------------------------

/// Strings for names: every delimiter, escapes, and non-ASCII.
fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9_ ,=\"\\\\é✓#\\-]{1,12}")
        .unwrap()
        .prop_filter("unrepresentable", |s| {
            !s.ends_with('\\') && !s.starts_with('#')
        })
}

fn field_value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(OwnedValue::Float),
        any::<i64>().prop_map(OwnedValue::Integer),
        any::<u64>().prop_map(OwnedValue::Unsigned),
        any::<bool>().prop_map(OwnedValue::Boolean),
        proptest::string::string_regex("[a-z \",=\\\\\n\té✓]{0,16}")
            .unwrap()
            .prop_map(OwnedValue::String),
    ]
}

#[derive(Clone, Debug)]
enum OwnedValue {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(String),
    Boolean(bool),
}

#[derive(Clone, Debug)]
struct OwnedPoint {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, OwnedValue)>,
    timestamp: Option<i64>,
}

fn point() -> impl Strategy<Value = OwnedPoint> {
    (
        name(),
        proptest::collection::btree_map(name(), name(), 0..4),
        proptest::collection::btree_map(name(), field_value(), 1..5),
        proptest::option::of(-9_223_372_036_854_775_806i64..=9_223_372_036_854_775_806),
    )
        .prop_filter("time is reserved", |(_, tags, fields, _)| {
            !tags.contains_key("time") && !fields.contains_key("time")
        })
        .prop_map(|(measurement, tags, fields, timestamp)| OwnedPoint {
            measurement,
            tags: tags.into_iter().collect(),
            fields: fields.into_iter().collect(),
            timestamp,
        })
}

proptest! {
    // Failures print their minimal case; nothing is written into the repo.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn serialize_then_parse_is_identity(points in proptest::collection::vec(point(), 1..8)) {
        let arena = Bump::new();
        let borrowed: Vec<Point<'_>> = points
            .iter()
            .map(|p| Point {
                measurement: &p.measurement,
                tags: arena.alloc_slice_fill_iter(p.tags.iter().map(|(k, v)| Tag { key: k, value: v })),
                fields: arena.alloc_slice_fill_iter(p.fields.iter().map(|(k, v)| Field {
                    key: k,
                    value: match v {
                        OwnedValue::Float(x) => FieldValue::Float(*x),
                        OwnedValue::Integer(x) => FieldValue::Integer(*x),
                        OwnedValue::Unsigned(x) => FieldValue::Unsigned(*x),
                        OwnedValue::String(s) => FieldValue::String(s),
                        OwnedValue::Boolean(b) => FieldValue::Boolean(*b),
                    },
                })),
                timestamp: p.timestamp,
                line: 0,
            })
            .collect();
        let mut body = String::new();
        for p in &borrowed {
            write_point(&mut body, p).unwrap();
        }
        for kernel in Kernel::available() {
            let parse_arena = Bump::new();
            let parsed = parse_with_kernel(body.as_bytes(), Precision::Nanosecond, &parse_arena, kernel).unwrap();
            prop_assert!(parsed.errors.is_empty(), "{:?} in {:?}", parsed.errors.as_slice(), body);
            prop_assert_eq!(parsed.points.len(), borrowed.len());
            for (got, want) in parsed.points.iter().zip(&borrowed) {
                prop_assert_eq!(got.measurement, want.measurement);
                prop_assert_eq!(got.tags, want.tags);
                prop_assert_eq!(got.fields, want.fields);
                prop_assert_eq!(got.timestamp, want.timestamp);
            }
        }
    }

    #[test]
    fn plain_lines_parse_as_the_general_parser_says(
        lines in proptest::collection::vec(line_text(), 1..12),
        pieces in proptest::collection::vec(proptest::sample::select(loose_pieces()), 0..12),
        precision in proptest::sample::select(&[Precision::Nanosecond, Precision::Auto, Precision::Second][..]),
        max_line_length in proptest::sample::select(&[usize::MAX, usize::MAX, 24, 40][..]),
    ) {
        // Grammar-shaped lines, then loose pieces (which may leave the last
        // line unfinished or glue garbage to it).
        let body = lines.concat() + &pieces.concat();
        let options = ParseOptions { precision, max_line_length };
        let describe = |r: Result<ParsedBody<'_>, _>| match r {
            Ok(p) => format!("{:?} {:?}", p.points.as_slice(), p.errors.as_slice()),
            Err(e) => format!("{e:?}"),
        };
        for kernel in Kernel::available() {
            let (a, b) = (Bump::new(), Bump::new());
            let general = describe(parse_general(body.as_bytes(), options, &a, kernel));
            let walked = describe(parser::parse_with_kernel_and_options(body.as_bytes(), options, &b, kernel));
            prop_assert_eq!(walked, general, "{:?} {:?}", kernel, body);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let arena = Bump::new();
        let _ = parse(&body, Precision::Auto, &arena);
    }
}

/// Names: mostly plain, some with escapes, quotes, blanks, `=`, reserved or
/// long enough to cross a 64-byte block.
const NAMES: &[&str] = &[
    "cpu",
    "m",
    "host",
    "a",
    "b",
    "usage_idle",
    "server-0001",
    "time",
    "a\\ b",
    "a\\,b",
    "a\\=b",
    "x=y",
    "\"q\"",
    "é✓",
    "",
    "#c",
    "\tt",
    "a\0",
    "b\\",
    "\\ lead",
    "a\\\\ b",
    "a\\\\\\,b",
    "a\\\nb",
    "a\\\"b",
    "C:\\\\Program\\ Files\\,x86",
    "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijk",
];
const VALUES: &[&str] = &[
    "1",
    "-1",
    "1.5",
    "0.012345678901234568",
    "97.12345678901234",
    "1e3",
    "-.5",
    ".",
    "-",
    "12i",
    "-9223372036854775808i",
    "9223372036854775808i",
    "7u",
    "-7u",
    "1.5i",
    "t",
    "TRUE",
    "false",
    "fals",
    "NaN",
    "\"s\"",
    "\"a b,c=d\"",
    "\"q\\\"x\"",
    "\"x\ny\"",
    "\"open",
    "\"end\\\\\"",
    "1\\5",
    "\"\"",
    "1\"x\"",
    "",
    "12345678901234567890123456789012345.5",
];
const SEPARATORS: &[&str] = &[" ", " ", " ", " ", "  ", " \t", "\t", "\0 ", ""];
const STAMPS: &[&str] = &[
    "1700000000000000000",
    "1700000000000000000",
    "1700000000",
    "1",
    "-1",
    "0",
    "99999999999999999999",
    "1.5",
    "",
    "12a",
    "1700000000000000000 ",
];
const ENDS: &[&str] = &["\n", "\n", "\n", "\r\n", " \n", "\r", ""];

/// One line in line protocol's shape, its tokens drawn from the tables above.
fn line_text() -> impl Strategy<Value = String> {
    let pick = |t: &'static [&'static str]| proptest::sample::select(t);
    (
        pick(NAMES),
        proptest::collection::vec((pick(NAMES), pick(NAMES)), 0..4),
        pick(SEPARATORS),
        proptest::collection::vec((pick(NAMES), pick(VALUES)), 1..6),
        proptest::option::of((pick(SEPARATORS), pick(STAMPS))),
        pick(ENDS),
    )
        .prop_map(|(measurement, tags, sep, fields, stamp, end)| {
            let mut line = measurement.to_string();
            for (k, v) in tags {
                line += &format!(",{k}={v}");
            }
            line += sep;
            let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line += &fields.join(",");
            if let Some((sep, stamp)) = stamp {
                line += sep;
                line += stamp;
            }
            line + end
        })
}

/// Pieces of lines, glued at random: every token of the tables above, the
/// delimiters on their own, and whole lines.
fn loose_pieces() -> Vec<&'static str> {
    let delimiters: &[&str] = &[",", "=", " ", "\n", "\\", "\"", "#"];
    let lines: &[&str] = &[
        "m,host=server-0001,region=eu-west-1 ",
        "v=1,w=2i ",
        "cpu,cpu=cpu1 usage=1 1\n",
    ];
    [NAMES, VALUES, SEPARATORS, STAMPS, ENDS, delimiters, lines].concat()
}

#[test]
fn duplicate_tags_are_found_whatever_the_key_order() {
    // (line, duplicate?): sorted, unsorted, sharing eight-byte prefixes,
    // escaped spellings, and keys in the last bytes of the body.
    let table = [
        ("m,a=1,b=2,c=3 v=1", false),
        ("m,c=1,b=2,a=3 v=1", false),
        ("m,c=1,a=2,c=3 v=1", true),
        ("m,a=1,a=2 v=1", true),
        ("m,abcdefgh1=1,abcdefgh2=2 v=1", false),
        ("m,abcdefgh2=1,abcdefgh1=2 v=1", false),
        ("m,abcdefghX=1,abcdefghX=2 v=1", true),
        ("m,abcdefgh=1,abcdefghi=2 v=1", false),
        ("m,host=1,hostname=2,host=3 v=1", true),
        ("m,a\\ b=1,a\\ b=2 v=1", true),
        ("m,a\\ b=1,a\\,b=2 v=1", false),
        ("m,b=1,a\\ b=2,b=3 v=1", true),
        ("m,x=1,y=2", false),
    ];
    for kernel in Kernel::available() {
        for (line, duplicate) in table {
            let arena = Bump::new();
            let parsed =
                parse_with_kernel(line.as_bytes(), Precision::Nanosecond, &arena, kernel).unwrap();
            let found = parsed
                .errors
                .iter()
                .any(|e| e.kind == LineErrorKind::DuplicateTags);
            assert_eq!(found, duplicate, "{kernel:?} {line}");
        }
    }
}
