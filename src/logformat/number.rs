//! Numbers carried by log fields and captures (`0.123`, `12`, `1e3`), for histograms and sums.

/// Parses a JSON-style decimal: optional sign, digits with an optional fraction, an optional
/// exponent. Anything else (`-`, `inf`, `NaN`, `0x10`, `1,5`, surrounding spaces) and values
/// that overflow to infinity are `None`: the caller counts them as unparsable.
pub(crate) fn parse_number(text: &[u8]) -> Option<f64> {
    let digits = |s: &[u8], i: &mut usize| {
        let start = *i;
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let mut i = 0;
    if matches!(text.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut mantissa = digits(text, &mut i);
    if text.get(i) == Some(&b'.') {
        i += 1;
        mantissa += digits(text, &mut i);
    }
    if mantissa == 0 {
        return None;
    }
    if matches!(text.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(text.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(text, &mut i) == 0 {
            return None;
        }
    }
    if i != text.len() {
        return None;
    }
    // Only ASCII was accepted above, so this cannot fail; `ok()?` keeps it panic-free anyway.
    let v: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let table: &[(&[u8], Option<f64>)] = &[
            (b"0.123", Some(0.123)),
            (b"12", Some(12.0)),
            (b"1e3", Some(1000.0)),
            (b"1E-3", Some(0.001)),
            (b"-2.5", Some(-2.5)),
            (b"+7", Some(7.0)),
            (b".5", Some(0.5)),
            (b"5.", Some(5.0)),
            (b"-", None),
            (b"", None),
            (b".", None),
            (b"1e", None),
            (b"1e+", None),
            (b"inf", None),
            (b"NaN", None),
            (b"infinity", None),
            (b"0x10", None),
            (b"1,5", None),
            (b" 1", None),
            (b"1 ", None),
            (b"12ms", None),
            (b"1e999", None),
            (b"\xff", None),
        ];
        for (text, want) in table {
            assert_eq!(
                parse_number(text),
                *want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_number(&bytes);
        }

        #[test]
        fn formatted_floats_round_trip(v in -1e12f64..1e12) {
            prop_assert_eq!(parse_number(v.to_string().as_bytes()), Some(v));
            prop_assert_eq!(parse_number(format!("{v:e}").as_bytes()), Some(v));
        }
    }
}
