//! Kubernetes quantities, parsed exactly and rounded up (`module-hooks.md` §8, decision 10).
//!
//! An optional sign, a decimal number (`12`, `1.5`, `.5`, `5.`), then at most one suffix: binary
//! `Ki`..`Ei`, decimal `n u m k M G T P E`, or a decimal exponent `e`/`E` with an optionally signed
//! integer. The value is an exact rational rounded up to an integer; no floating point is used.

/// A quantity that could not be parsed or does not fit in `i64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not a quantity.
    #[error("invalid quantity {0:?}")]
    Invalid(String),
    /// Outside the signed 64-bit range after rounding.
    #[error("quantity {0:?} is out of range")]
    OutOfRange(String),
}

/// Parses a quantity and rounds it up (towards +∞) to an integer.
pub fn parse_ceil(text: &str) -> Result<i64, QuantityError> {
    let value = scaled_ceil(text, 0)?;
    i64::try_from(value).map_err(|_| QuantityError::OutOfRange(text.to_string()))
}

/// Parses a quantity exactly, in units of 10⁻⁹ (nano), the finest unit the Kubernetes API
/// emits; a finer value (`1e-12`, never produced by the API server) is rounded up to 1 nano.
/// `7500m` is `7_500_000_000`, `16351048Ki` is `16_743_473_152 × 10⁹`.
pub fn parse_nanos(text: &str) -> Result<i128, QuantityError> {
    scaled_ceil(text, 9)
}

/// `value × 10^extra_exp10`, rounded up, exactly.
fn scaled_ceil(text: &str, extra_exp10: i32) -> Result<i128, QuantityError> {
    let invalid = || QuantityError::Invalid(text.to_string());
    let out_of_range = || QuantityError::OutOfRange(text.to_string());
    let bytes = text.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &text[int_start..i];
    let mut frac_digits = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &text[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(invalid());
    }
    let suffix = &text[i..];
    let (exp10, pow1024): (i32, u32) = match suffix {
        "" => (0, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        s if s.starts_with(['e', 'E']) => {
            let e = &s[1..];
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            (e.parse::<i32>().map_err(|_| out_of_range())?, 0)
        }
        _ => return Err(invalid()),
    };
    // mantissa (all digits) * 1024^pow1024 * 10^(exp10 - frac_len)
    let mut digits = int_digits.bytes().chain(frac_digits.bytes());
    let mantissa = if int_digits.len() + frac_digits.len() <= 19 {
        // 10¹⁹ − 1 < 2⁶⁴: no check per digit (every Node's capacity takes this way).
        u128::from(digits.fold(0_u64, |m, b| m * 10 + u64::from(b - b'0')))
    } else {
        digits.try_fold(0_u128, |m, b| m.checked_mul(10)?.checked_add(u128::from(b - b'0'))).ok_or_else(out_of_range)?
    };
    let frac_len = i32::try_from(frac_digits.len()).map_err(|_| out_of_range())?;
    let scale = exp10.checked_sub(frac_len).and_then(|s| s.checked_add(extra_exp10)).ok_or_else(out_of_range)?;
    let num = mantissa.checked_mul(1024u128.pow(pow1024)).ok_or_else(out_of_range)?;
    let magnitude_ceil_or_floor = |round_up: bool| -> Result<u128, QuantityError> {
        if num == 0 {
            return Ok(0);
        }
        if scale >= 0 {
            let factor = 10u128.checked_pow(scale.unsigned_abs()).ok_or_else(out_of_range)?;
            return num.checked_mul(factor).ok_or_else(out_of_range);
        }
        match 10u128.checked_pow(scale.unsigned_abs()) {
            Some(den) => Ok(if round_up { num.div_ceil(den) } else { num / den }),
            // The denominator exceeds any mantissa: the magnitude is in (0, 1).
            None => Ok(u128::from(round_up)),
        }
    };
    // Ceiling: round the magnitude up for positives, down for negatives.
    let magnitude = magnitude_ceil_or_floor(!negative)?;
    let value = i128::try_from(magnitude).map_err(|_| out_of_range())?;
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table() {
        let rows = [
            ("4", 4),
            ("1900m", 2),
            ("100m", 1),
            ("500u", 1),
            ("0", 0),
            ("16560077788", 16_560_077_788),
            ("7763032Ki", 7_949_344_768),
            ("17763032Ki", 18_189_344_768),
            ("16Gi", 17_179_869_184),
            ("1.5Gi", 1_610_612_736),
            ("100M", 100_000_000),
            ("12k", 12_000),
            ("1e3", 1000),
            ("1E3", 1000),
            ("1.5e2", 150),
            ("1E", 1_000_000_000_000_000_000),
            ("0.1", 1),
            (".5", 1),
            ("5.", 5),
            ("+2", 2),
            ("-1.5", -1),
            ("1E-2", 1),
            ("1n", 1),
            ("1e-50", 1),
            ("0e5", 0),
            ("8Ei", i64::MAX), // placeholder replaced below
        ];
        for (input, want) in rows {
            if input == "8Ei" {
                assert!(matches!(parse_ceil(input), Err(QuantityError::OutOfRange(_))));
                continue;
            }
            assert_eq!(parse_ceil(input), Ok(want), "{input}");
        }
    }

    /// `pricing-hooks-additions.md` §1.4: exact values, no rounding.
    #[test]
    fn exact_nanos() {
        let n = 1_000_000_000_i128;
        for (input, want) in [
            ("7500m", 7_500_000_000),
            ("250m", 250_000_000),
            ("16351048Ki", 16_743_473_152 * n),
            ("1.5Gi", 1_610_612_736 * n),
            ("129M", 129_000_000 * n),
            ("1e9", n * n),
            ("1n", 1),
            ("1e-12", 1),
            ("-1", -n),
            // 19 digits (summed in a u64) and 20 (checked in a u128) alike.
            ("9999999999999999999", 9_999_999_999_999_999_999 * n),
            ("1234567890.123456789Ki", 1_264_197_519_486_419_751_936),
            ("99999999999999999999m", 99_999_999_999_999_999_999 * 1_000_000),
        ] {
            assert_eq!(parse_nanos(input), Ok(want), "{input}");
        }
        assert!(matches!(parse_nanos("abc"), Err(QuantityError::Invalid(_))));
    }

    #[test]
    fn invalid_inputs_quote_the_text() {
        for bad in ["", "abc", "1.2.3", "12K", "12Kb", "Ki", "1 Gi", "1e", "1e3.5", "-", ".", "1e+", "m"] {
            let e = parse_ceil(bad).unwrap_err();
            assert_eq!(e, QuantityError::Invalid(bad.to_string()), "{bad}");
            assert!(e.to_string().contains(&format!("{bad:?}")));
        }
        assert!(matches!(parse_ceil("1e30"), Err(QuantityError::OutOfRange(_))));
        assert!(matches!(parse_ceil("99999999999999999999999999999999999999999"), Err(QuantityError::OutOfRange(_))));
    }
}
