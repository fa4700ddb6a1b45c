//! Exact parsing and comparison of Kubernetes resource quantities
//! (for example `resources.requests.storage: 10Gi`).
//!
//! The grammar is the one of apimachinery's `resource.Quantity`:
//! an optionally signed decimal number (`5`, `5.`, `.5`, `1.25`) followed by
//! an optional binary suffix (`Ki` .. `Ei`), decimal suffix (`m`, `k`, `M`
//! .. `E`) or decimal exponent (`e3`, `E-2`).
//!
//! # Why values compare exactly
//!
//! Every such quantity is exactly `m × 10^e` for an integer `m`: decimal
//! suffixes and exponents only shift the decimal point, and a binary suffix
//! multiplies by `1024^k`, which is an integer. A parsed [`Quantity`] therefore
//! keeps its sign, its significant decimal digits (no leading or trailing
//! zeros) and a decimal exponent. Binary suffixes are applied by schoolbook
//! multiplication of the digit string, so `0.5Ti` becomes exactly
//! `549755813888`. Two quantities are ordered by sign, then by the position of
//! their most significant digit, then by their digits. No floating point is
//! involved, so `1Gi == 1024Mi == 1073741824` and `1G < 1Gi` hold exactly.
//!
//! # Limits
//!
//! Input is refused when longer than [`MAX_LEN`] bytes. The exponent is
//! compared symbolically (it is never expanded into digits), so huge exponents
//! cost nothing; the exponent written after `e`/`E` must however fit in an
//! `i32` (`|e| ≤ 2147483647`), otherwise the text is refused.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Longest text, in bytes, that [`Quantity::parse`] accepts.
pub const MAX_LEN: usize = 256;

/// Enough leading room for the digits added by multiplying by `1024^6`
/// (`2^60` has 19 decimal digits).
const BINARY_HEADROOM: usize = 19;

/// A Kubernetes quantity, compared by exact value.
#[derive(Debug, Clone)]
pub struct Quantity {
    /// The text as given.
    text: String,
    /// True only for values below zero (zero is never negative).
    negative: bool,
    /// Significant decimal digits (values 0..=9), most significant first,
    /// without leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    /// The value is `digits × 10^exponent` (0 for zero).
    exponent: i64,
}

/// Why a text is not a valid quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    /// The offending text, shortened if very long.
    input: String,
    reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    Empty,
    TooLong(usize),
    Whitespace,
    NoDigits,
    SecondDecimalPoint,
    UnknownSuffix(String),
    ExponentNotInteger,
    ExponentOutOfRange,
}

/// Suffix interpretation: a power of ten or a power of 1024.
enum Suffix {
    Decimal(i64),
    Binary(u32),
}

impl Quantity {
    /// Parses a quantity such as `10Gi`, `1.5G`, `500m`, `1e9` or `-3`.
    ///
    /// # Errors
    ///
    /// Returns a [`QuantityError`] when the text does not follow the grammar,
    /// is longer than [`MAX_LEN`] bytes, or has an exponent outside the `i32`
    /// range.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let fail = |reason| Err(QuantityError::new(text, reason));
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return fail(Reason::Empty);
        }
        if bytes.len() > MAX_LEN {
            return fail(Reason::TooLong(bytes.len()));
        }
        if text.chars().any(char::is_whitespace) {
            return fail(Reason::Whitespace);
        }

        let (negative, rest) = match bytes.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, bytes),
        };
        let (int_digits, rest) = split_digits(rest);
        let (frac_digits, rest) = match rest.split_first() {
            Some((b'.', after)) => split_digits(after),
            _ => (&[][..], rest),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return fail(Reason::NoDigits);
        }
        let suffix = match parse_suffix(rest) {
            Ok(suffix) => suffix,
            Err(reason) => return fail(reason),
        };

        // The suffix exponent fits in an i32 and the fraction is at most
        // MAX_LEN digits long, so this cannot overflow an i64.
        let frac_len = i64::try_from(frac_digits.len()).unwrap_or(i64::MAX);
        let (mut exponent, binary_power) = match suffix {
            Suffix::Decimal(e) => (e.saturating_sub(frac_len), 0),
            Suffix::Binary(k) => (-frac_len, k),
        };

        let headroom = if binary_power > 0 { BINARY_HEADROOM } else { 0 };
        let mut digits: Vec<u8> =
            Vec::with_capacity(headroom + int_digits.len() + frac_digits.len());
        digits.extend(std::iter::repeat_n(0, headroom));
        digits.extend(
            int_digits
                .iter()
                .chain(frac_digits)
                .map(|b| b.wrapping_sub(b'0')),
        );
        for _ in 0..binary_power {
            let carry = multiply_by_1024(&mut digits);
            debug_assert_eq!(carry, 0, "binary headroom too small");
        }

        // Normalize: drop leading zeros, move trailing zeros into the exponent.
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        while digits.last() == Some(&0) {
            digits.pop();
            exponent = exponent.saturating_add(1);
        }
        let is_zero = digits.is_empty();

        Ok(Quantity {
            text: text.to_owned(),
            negative: negative && !is_zero,
            digits,
            exponent: if is_zero { 0 } else { exponent },
        })
    }

    /// The text as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Position of the most significant digit: the value lies in
    /// `[10^(order-1), 10^order)`. Only meaningful for non-zero values.
    fn order(&self) -> i64 {
        let len = i64::try_from(self.digits.len()).unwrap_or(i64::MAX);
        len.saturating_add(self.exponent)
    }

    fn signum(&self) -> i8 {
        match (self.digits.is_empty(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }

    fn cmp_magnitude(&self, other: &Quantity) -> Ordering {
        // Both digit strings start with a non-zero digit and end with a
        // non-zero digit, so once the orders agree a lexicographic comparison
        // is a numeric one (a strict prefix is the smaller value).
        self.order()
            .cmp(&other.order())
            .then_with(|| self.digits.cmp(&other.digits))
    }
}

/// Splits off the leading run of ASCII digits.
fn split_digits(bytes: &[u8]) -> (&[u8], &[u8]) {
    let n = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    bytes.split_at(n.min(bytes.len()))
}

fn parse_suffix(suffix: &[u8]) -> Result<Suffix, Reason> {
    let decimal = |e| Ok(Suffix::Decimal(e));
    let binary = |k| Ok(Suffix::Binary(k));
    match suffix {
        b"" => decimal(0),
        b"m" => decimal(-3),
        b"k" => decimal(3),
        b"M" => decimal(6),
        b"G" => decimal(9),
        b"T" => decimal(12),
        b"P" => decimal(15),
        b"E" => decimal(18),
        b"Ki" => binary(1),
        b"Mi" => binary(2),
        b"Gi" => binary(3),
        b"Ti" => binary(4),
        b"Pi" => binary(5),
        b"Ei" => binary(6),
        [b'e' | b'E', exponent @ ..] => parse_exponent(exponent).map(Suffix::Decimal),
        [b'.', ..] => Err(Reason::SecondDecimalPoint),
        _ => Err(Reason::UnknownSuffix(
            String::from_utf8_lossy(suffix).into_owned(),
        )),
    }
}

/// Parses `<sign>?<digits>` into an exponent within the `i32` range.
fn parse_exponent(text: &[u8]) -> Result<i64, Reason> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Reason::ExponentNotInteger);
    }
    let mut value: i64 = 0;
    for &b in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b.wrapping_sub(b'0'))))
            .filter(|&v| v <= i64::from(i32::MAX))
            .ok_or(Reason::ExponentOutOfRange)?;
    }
    Ok(if negative { -value } else { value })
}

/// Multiplies a big-endian decimal digit string by 1024 in place and returns
/// the carry that did not fit.
fn multiply_by_1024(digits: &mut [u8]) -> u32 {
    let mut carry: u32 = 0;
    for d in digits.iter_mut().rev() {
        let v = u32::from(*d) * 1024 + carry;
        // v % 10 < 10, so the cast is lossless.
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    carry
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.signum().cmp(&other.signum()) {
            Ordering::Equal => match self.signum() {
                0 => Ordering::Equal,
                s if s > 0 => self.cmp_magnitude(other),
                _ => other.cmp_magnitude(self),
            },
            unequal => unequal,
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl QuantityError {
    /// Characters of the input kept for the error message.
    const SHOWN_CHARS: usize = 64;

    fn new(text: &str, reason: Reason) -> Self {
        let mut input: String = text.chars().take(Self::SHOWN_CHARS).collect();
        if input.len() < text.len() {
            input.push('…');
        }
        QuantityError { input, reason }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Empty => f.write_str("it is empty"),
            Reason::TooLong(len) => write!(f, "it is {len} bytes long, the limit is {MAX_LEN}"),
            Reason::Whitespace => f.write_str("whitespace is not allowed"),
            Reason::NoDigits => f.write_str("the number has no digits"),
            Reason::SecondDecimalPoint => f.write_str("the number has more than one decimal point"),
            Reason::UnknownSuffix(suffix) => write!(f, "unknown suffix {suffix:?}"),
            Reason::ExponentNotInteger => {
                f.write_str("the exponent must be an integer with an optional sign")
            }
            Reason::ExponentOutOfRange => {
                write!(f, "the exponent exceeds ±{} in magnitude", i32::MAX)
            }
        }
    }
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a valid quantity: {}; expected a number with an optional suffix \
             (Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P, E) or exponent (e.g. 1e9)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for QuantityError {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn assert_all_equal(texts: &[&str]) {
        for a in texts {
            for b in texts {
                assert_eq!(q(a), q(b), "{a} == {b}");
                assert_eq!(q(a).cmp(&q(b)), Ordering::Equal, "{a} cmp {b}");
            }
        }
    }

    fn assert_less(a: &str, b: &str) {
        assert!(q(a) < q(b), "{a} < {b}");
        assert!(q(b) > q(a), "{b} > {a}");
        assert_ne!(q(a), q(b), "{a} != {b}");
    }

    fn assert_invalid(text: &str) -> QuantityError {
        match Quantity::parse(text) {
            Ok(parsed) => panic!("{text:?} should be invalid, parsed as {parsed:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn gibibyte_spellings_are_equal() {
        assert_all_equal(&[
            "1Gi",
            "1024Mi",
            "1048576Ki",
            "1073741824",
            "1.073741824G",
            "1073741824000m",
            "1073741824e0",
            "1.073741824e9",
            "0.0009765625Ti",
        ]);
    }

    #[test]
    fn decimal_giga_is_below_binary_giga() {
        assert_less("1G", "1Gi");
        assert_less("1073741823", "1Gi");
        assert_less("1Gi", "1073741825");
    }

    #[test]
    fn binary_suffixes() {
        assert_all_equal(&["1Ki", "1024"]);
        assert_all_equal(&["0.5Ti", "512Gi", "549755813888"]);
        assert_all_equal(&[".5Gi", "512Mi"]);
        assert_all_equal(&["1Ei", "1152921504606846976"]);
        assert_all_equal(&["1.5Ki", "1536"]);
        assert_all_equal(&["0.001Ki", "1.024"]);
    }

    #[test]
    fn number_forms() {
        assert_all_equal(&["5.", "5", "5.000", "005", "+5", "50e-1"]);
        assert_all_equal(&[".5", "0.5", "500m"]);
    }

    #[test]
    fn decimal_suffixes_and_exponents() {
        assert_all_equal(&["1e3", "1E3", "1k", "1000", "1e+3", "0.001M"]);
        assert_all_equal(&["1E", "1000P", "1e18", "1000000000000000000"]);
        assert_all_equal(&["1e-3", "1m", "0.001"]);
        assert_all_equal(&["1T", "1e12"]);
        assert_less("100m", "1");
        assert_less("999m", "1");
        assert_less("1P", "1E");
    }

    #[test]
    fn signs_and_zero() {
        assert_all_equal(&["+1Gi", "1Gi"]);
        assert_all_equal(&["0", "0Gi", "-0", "+0", "0.000", ".0", "0e99", "-0m"]);
        assert_less("-1", "0");
        assert_less("-1Gi", "-1G");
        assert_less("-2", "-1");
        assert_less("-1m", "1m");
        assert_all_equal(&["-1Ki", "-1024"]);
    }

    #[test]
    fn close_values() {
        assert_less("9.99Gi", "10Gi");
        assert_less("10Gi", "10.0000000001Gi");
        assert_less("1.1", "1.11");
        assert_less("0.999999999999999999999", "1");
    }

    #[test]
    fn huge_exponents_compare_symbolically() {
        assert_less("1e2000000000", "2e2000000000");
        assert_less("9e1999999999", "1e2000000000");
        assert_less("0", "1e-2147483647");
        assert_less("-1e-2147483647", "0");
        assert_less("1Ei", "1e2147483647");
        assert_all_equal(&["10e2147483646", "1e2147483647", "100e2147483645"]);
    }

    #[test]
    fn sorted_mixed_spellings() {
        let mut list: Vec<Quantity> = [
            "1Gi", "-1", "1G", "500Mi", "0", "1e9", "0.5Gi", "2Ti", "100m", "1Ki", "1k", "1.5Gi",
        ]
        .iter()
        .map(|t| q(t))
        .collect();
        list.sort();
        let texts: Vec<&str> = list.iter().map(Quantity::as_str).collect();
        // 1G and 1e9 are equal; the stable sort keeps their input order.
        assert_eq!(
            texts,
            [
                "-1", "0", "100m", "1k", "1Ki", "500Mi", "0.5Gi", "1G", "1e9", "1Gi", "1.5Gi",
                "2Ti",
            ]
        );
    }

    #[test]
    fn display_and_as_str_keep_the_original_text() {
        for text in ["1Gi", "+1.50Gi", "005", ".5", "1E3", "-0"] {
            let parsed = q(text);
            assert_eq!(parsed.as_str(), text);
            assert_eq!(parsed.to_string(), text);
        }
        let from_str: Quantity = "1024Mi".parse().unwrap();
        assert_eq!(from_str, q("1Gi"));
        assert_eq!(from_str.to_string(), "1024Mi");
    }

    #[test]
    fn invalid_inputs() {
        for text in [
            "", ".", "+", "-", "+.", "Gi", "1.5.3Gi", "1gi", "1KB", "1 Gi", " 1Gi", "1Gi ", "1e",
            "1e+", "1e-", "1e1.5", "1ee3", "--1", "+-1", "1Ki1", "0x10", "１", "1１", "1Gi\n",
            "1\t", "1i", "1K", "1mi", "1e3Gi", "1,5", "∞", "NaN", "1_000", "٣",
        ] {
            assert_invalid(text);
        }
    }

    #[test]
    fn error_messages_explain_the_problem() {
        let message = assert_invalid("1.5.3Gi").to_string();
        assert!(
            message.starts_with(r#""1.5.3Gi" is not a valid quantity: "#),
            "{message}"
        );
        assert!(message.contains("more than one decimal point"), "{message}");
        assert!(message.contains("(Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P, E)"));
        assert!(message.ends_with("exponent (e.g. 1e9)"), "{message}");

        assert!(assert_invalid("1gi")
            .to_string()
            .contains(r#"unknown suffix "gi""#));
        assert!(assert_invalid("").to_string().contains("empty"));
        assert!(assert_invalid("1 Gi").to_string().contains("whitespace"));
        assert!(assert_invalid("Gi").to_string().contains("no digits"));
        assert!(assert_invalid("1e1.5").to_string().contains("exponent"));
        assert_eq!(assert_invalid("1gi"), assert_invalid("1gi"));
    }

    #[test]
    fn long_input_is_refused_and_not_echoed_in_full() {
        let at_limit = "1".repeat(MAX_LEN);
        assert_eq!(q(&at_limit), q(&at_limit));
        let too_long = "1".repeat(MAX_LEN + 1);
        let message = assert_invalid(&too_long).to_string();
        assert!(message.contains("limit is 256"), "{message}");
        let huge = "9".repeat(1_000_000) + "Gi";
        let message = assert_invalid(&huge).to_string();
        assert!(message.len() < 400, "message is {} bytes", message.len());
    }

    #[test]
    fn out_of_range_exponents_are_refused_without_panicking() {
        for text in [
            "1e99999999999",
            "1e-99999999999",
            "1e2147483648",
            "1e-2147483648",
            "1e99999999999999999999999999999999999999",
        ] {
            let message = assert_invalid(text).to_string();
            assert!(message.contains("exponent exceeds"), "{message}");
        }
        // Leading zeros in the exponent do not count against the bound.
        assert_all_equal(&["1e0000000000000000000000003", "1k"]);
    }

    #[test]
    fn long_values_at_the_extremes() {
        let big = format!("{}Ei", "9".repeat(MAX_LEN - 3));
        let small = format!("0.{}1m", "0".repeat(MAX_LEN - 4));
        assert_less(&small, "1e-200");
        assert_less("1e250", &big);
        assert_less(&format!("-{big}"), "0");
        assert_less(&format!("-{big}"), &format!("-{big}").replace("Ei", "Pi"));
    }
}
