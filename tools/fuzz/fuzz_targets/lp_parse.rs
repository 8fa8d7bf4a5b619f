//! Any bytes, any precision: the parser must not panic, every kernel and the
//! memchr cursor must agree (with and without the plain-line walk), and every accepted point must survive a
//! serialize -> parse round trip unchanged.
#![no_main]

use bumpalo::Bump;
use hydrant::lp::scan::Kernel;
use hydrant::lp::serialize::write_point;
use hydrant::lp::{parse_general, parse_with_kernel, parse_with_memchr, ParseOptions, Precision};
use libfuzzer_sys::fuzz_target;

const PRECISIONS: [Precision; 4] = [
    Precision::Auto,
    Precision::Nanosecond,
    Precision::Second,
    Precision::Hour,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let precision = PRECISIONS[selector as usize % PRECISIONS.len()];
    let arena = Bump::new();
    let options = ParseOptions::new(precision);
    let reference = parse_general(body, options, &arena, Kernel::Scalar);
    let describe = |r: &Result<hydrant::lp::ParsedBody<'_>, hydrant::lp::BodyError>| match r {
        Ok(p) => format!("{:?} {:?}", p.points.as_slice(), p.errors.as_slice()),
        Err(e) => format!("{e:?}"),
    };
    let expected = describe(&reference);
    for kernel in Kernel::available() {
        let other = Bump::new();
        assert_eq!(describe(&parse_with_kernel(body, precision, &other, kernel)), expected);
        let other = Bump::new();
        assert_eq!(describe(&parse_general(body, options, &other, kernel)), expected);
    }
    let other = Bump::new();
    assert_eq!(describe(&parse_with_memchr(body, precision, &other)), expected);

    let Ok(parsed) = reference else { return };
    for point in parsed.points.iter() {
        let mut line = String::new();
        if write_point(&mut line, point).is_err() {
            continue;
        }
        let again = Bump::new();
        let reparsed = parse_with_kernel(line.as_bytes(), Precision::Nanosecond, &again, Kernel::Scalar)
            .expect("serialized text is UTF-8");
        assert!(reparsed.errors.is_empty(), "{line:?}: {:?}", reparsed.errors.as_slice());
        assert_eq!(reparsed.points.len(), 1, "{line:?}");
        let back = reparsed.points[0];
        assert_eq!(back.measurement, point.measurement, "{line:?}");
        assert_eq!(back.tags, point.tags, "{line:?}");
        assert_eq!(format!("{:?}", back.fields), format!("{:?}", point.fields), "{line:?}");
        assert_eq!(back.timestamp, point.timestamp, "{line:?}");
    }
});
