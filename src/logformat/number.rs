//! Numbers carried by log fields and captures (`0.123`, `12`, `1e3`), for histograms and sums.

/// Parses a JSON-style decimal: optional sign, digits with an optional fraction, an optional
/// exponent. Anything else (`-`, `inf`, `NaN`, `0x10`, `1,5`, surrounding spaces) and values
/// that overflow to infinity are `None`: the caller counts them as unparsable.
pub(crate) fn parse_number(text: &[u8]) -> Option<f64> {
    if let Some(v) = parse_exact_decimal(text) {
        return Some(v);
    }
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

/// Largest integer below which every integer is an exact `f64` (2^53).
const EXACT_INT: u64 = 1 << 53;

/// Powers of ten that are exact `f64`s (5^22 < 2^53).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `[sign]digits[.digits]` whose digits, read as one integer, are below
/// 2^53, with at most 19 digits (so the integer fits a `u64` while read):
/// that integer and 10^fraction-digits are exact `f64`s, so one IEEE
/// division rounds correctly (Clinger's fast path) and gives what
/// `str::parse` does, several times faster. Other text is `None` and takes
/// the general parse.
fn parse_exact_decimal(text: &[u8]) -> Option<f64> {
    let (negative, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if body.is_empty() || body.len() > 20 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut digits = 0usize;
    let mut point = None;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                // Wraps only past 19 digits, which are refused below.
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                digits += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    if digits == 0 || digits > 19 || mantissa >= EXACT_INT {
        return None;
    }
    let fraction = point.map_or(0, |p| body.len() - p - 1);
    let v = mantissa as f64 / POW10[fraction];
    Some(if negative { -v } else { v })
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
        fn exact_path_equals_str_parse(
            sign in prop_oneof![Just(""), Just("-"), Just("+")],
            int in "[0-9]{0,17}",
            frac in proptest::option::of("[0-9]{0,19}"),
        ) {
            let text = match &frac {
                Some(f) => format!("{sign}{int}.{f}"),
                None => format!("{sign}{int}"),
            };
            let want = text.parse::<f64>().ok().filter(|v| v.is_finite());
            let got = parse_number(text.as_bytes());
            prop_assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{}", text);
        }

        #[test]
        fn formatted_floats_round_trip(v in -1e12f64..1e12) {
            prop_assert_eq!(parse_number(v.to_string().as_bytes()), Some(v));
            prop_assert_eq!(parse_number(format!("{v:e}").as_bytes()), Some(v));
        }
    }
}
