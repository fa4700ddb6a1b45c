//! Kubernetes resource quantities (for example `resources.requests.storage: 10Gi`),
//! read exactly as Kubernetes 1.34 and 1.35 read them and compared by exact value.
//!
//! The rules are those of apimachinery's `pkg/api/resource` (v0.34 / v0.35):
//! `ParseQuantity` and `parseQuantityString` in quantity.go, the suffix table and
//! `interpret` in suffix.go, and, for JSON, `Quantity.UnmarshalJSON`. Where that
//! code has quirks, this module has them too, because a policy must judge the value
//! the API server works with, not the value a reader would expect:
//!
//! - the grammar is a sign, digits with at most one `.`, then a suffix (`n u m k M G
//!   T P E`, `Ki Mi Gi Ti Pi Ei`, or `e`/`E` and an exponent). A number without digits
//!   reads as 0 (`"."`, `"-"`, `"Gi"`), except where the value would need Kubernetes'
//!   decimal fallback (`"Pi"`, `"Ei"`, `"e-10"`), which refuses it;
//! - the exponent is read as a 64-bit integer and then truncated to 32 bits, so
//!   `1e4294967297` is `1e1`; the scale arithmetic that follows wraps at 32 bits too;
//! - a value with digits below 10⁻⁹ is rounded up, away from zero, to the next nano
//!   (`0.1n` is `1n`); a value written with a binary suffix is capped at 2⁶³−1
//!   (`8Ei` is 9223372036854775807), decimal values are not capped;
//! - JSON: a string's text between the quotes is read as written (escape sequences
//!   are not decoded, so they make it invalid) and surrounding whitespace is trimmed
//!   (`" 2Gi"` is 2Gi); `null` is 0. Only [`Quantity::from_json`] does this:
//!   [`Quantity::parse`] is `ParseQuantity`, which refuses whitespace.
//!
//! A [`Quantity`] keeps the text as given, its exact value as significant decimal
//! digits and a power of ten, and what Kubernetes needs to write it back
//! ([`Quantity::canonical`]). Values compare by sign, then by the position of the
//! most significant digit, then digit by digit: no floating point, and no big
//! integer whose size grows with the exponent, so `1e2147483647` costs no more than
//! `1`. Every step is linear in the length of the text; Kubernetes sets no length
//! limit, and the API server's request size limit bounds what can arrive.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Letters that may start a suffix (`parseQuantityString` in quantity.go).
const SUFFIX_LETTERS: &[u8] = b"eEinumkKMGTP";

/// `maxAllowed`, the cap on values written with a binary suffix: 2⁶³−1.
const MAX_ALLOWED: &[u8] = b"9223372036854775807";

/// `Nano`: parsing keeps nine decimal places, no more.
const NANO_SCALE: i32 = 9;

/// `maxInt64Factors`: the decimal fast path takes at most 18 digits.
const MAX_INT64_FACTORS: i32 = 18;

/// How Kubernetes remembers the kind of suffix a quantity was written with; it
/// decides the form [`Quantity::canonical`] writes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// No suffix, or `n u m k M G T P E` (`12M` is 12 × 10⁶).
    DecimalSI,
    /// `Ki Mi Gi Ti Pi Ei` (`12Mi` is 12 × 2²⁰).
    BinarySI,
    /// `e`/`E` and an exponent (`12e6`).
    DecimalExponent,
}

/// A Kubernetes quantity, compared by the exact value Kubernetes computes for it.
#[derive(Debug, Clone)]
pub struct Quantity {
    /// The text that was parsed (for JSON input: after trimming).
    text: String,
    /// True only for values below zero (zero is never negative).
    negative: bool,
    /// Significant decimal digits (ASCII), most significant first, without
    /// leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    /// The value is `digits × 10^exponent` (0 for zero).
    exponent: i64,
    format: Format,
    /// Kubernetes keeps the parsed text as the quantity's string form
    /// (its fast path found it already canonical).
    keeps_text: bool,
    /// Kubernetes holds the value as an `int64Amount` (fast path) rather than
    /// an `inf.Dec`; the two write canonical forms differently at the edge of
    /// the 32-bit exponent range.
    int64_backed: bool,
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
    /// `ParseQuantity("")`: `ErrFormatWrong`.
    Empty,
    /// A character where the grammar allows none: `ErrFormatWrong`.
    Unexpected { character: char, at: usize },
    /// A suffix that is not in the table: `ErrSuffix`.
    UnknownSuffix(String),
    /// `e`/`E` followed by something that is not a 64-bit integer: `ErrSuffix`.
    BadExponent(String),
    /// No digits where Kubernetes needs some: `ErrNumeric`.
    NoDigits,
    /// An exponent for which Kubernetes' decimal library (`inf.Dec.Round`)
    /// panics instead of answering: the API server fails the request.
    Unreadable,
}

/// What `parseQuantityString` splits a text into.
struct Scanned<'a> {
    positive: bool,
    /// The signed number as written (`value`), handed to `inf.Dec.SetString`.
    value: &'a [u8],
    /// Integer digits without leading zeros; `0` when there are none.
    num: &'a [u8],
    /// Digits after the decimal point.
    denom: &'a [u8],
    suffix: &'a [u8],
}

impl Quantity {
    /// Parses a quantity as Kubernetes' `resource.ParseQuantity` does: `10Gi`,
    /// `1.5G`, `500m`, `1e9`, `-3`, also `1073849198182400u` (the form the API
    /// server writes for `1.0001Gi`) and oddities such as `.` or `Ki` (both 0).
    /// Whitespace is not trimmed here (see [`Quantity::from_json`]).
    ///
    /// # Errors
    ///
    /// Returns a [`QuantityError`] for exactly the texts Kubernetes refuses.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let fail = |reason| QuantityError::new(text, reason);
        if text.is_empty() {
            return Err(fail(Reason::Empty));
        }
        if text == "0" {
            let mut zero = Quantity::zero(text, Format::DecimalSI);
            zero.keeps_text = true;
            zero.int64_backed = true;
            return Ok(zero);
        }
        let scanned = scan(text.as_bytes()).map_err(|at| {
            let character = text.get(at..).and_then(|s| s.chars().next());
            fail(Reason::Unexpected {
                character: character.unwrap_or('\u{fffd}'),
                at,
            })
        })?;
        let (base, exponent, format) = interpret(scanned.suffix).map_err(fail)?;
        if let Some(quantity) = fast_path(text, &scanned, exponent, format).map_err(fail)? {
            return Ok(quantity);
        }
        slow_path(text, &scanned, base, exponent, format).map_err(fail)
    }

    /// Reads a quantity from the text of a JSON value, as Kubernetes'
    /// `Quantity.UnmarshalJSON` does: `"..."` (a string, quotes included, its
    /// text taken as written: escape sequences are not decoded) or a number;
    /// surrounding whitespace is trimmed (Go's `strings.TrimSpace`), and `null`
    /// reads as 0.
    ///
    /// # Errors
    ///
    /// Returns a [`QuantityError`] when the trimmed text is not a quantity.
    pub fn from_json(raw: &str) -> Result<Quantity, QuantityError> {
        if raw == "null" {
            return Ok(Quantity::zero(raw, Format::DecimalSI));
        }
        let inner = match raw.as_bytes() {
            [b'"', .., b'"'] => raw.get(1..raw.len() - 1).unwrap_or(raw),
            _ => raw,
        };
        Quantity::parse(inner.trim())
    }

    /// The text as given (for JSON input, as trimmed).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The format Kubernetes records for this quantity.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// The string Kubernetes writes back for this quantity (`Quantity.String`,
    /// hence `MarshalJSON` and what the API server sends to webhooks): the text
    /// itself when Kubernetes found it canonical while parsing, otherwise
    /// `CanonicalizeBytes`: `1.0001Gi` → `1073849198182400u`, `1.5Gi` → `1536Mi`,
    /// `1.5` → `1500m`. As in Kubernetes 1.34/1.35, a decimal value whose exponent
    /// has no suffix (10²¹ and up) is written without its exponent (`1000E` → `1`).
    #[must_use]
    pub fn canonical(&self) -> String {
        if self.keeps_text {
            return self.text.clone();
        }
        if self.digits.is_empty() {
            return "0".to_owned();
        }
        let sign = if self.negative { "-" } else { "" };
        if self.format == Format::BinarySI {
            if let Some(binary) = self.base_1024() {
                return format!("{sign}{binary}");
            }
            return format!("{sign}{}", self.decimal_form(Format::DecimalSI));
        }
        format!("{sign}{}", self.decimal_form(self.format))
    }

    /// The exact value as a decimal number: plain (`-1073849198.1824`) unless
    /// the exponent is large, then as integer digits and a power of ten
    /// (`15e2147483647`).
    #[must_use]
    pub fn exact_decimal(&self) -> String {
        const PLAIN_LIMIT: i64 = 64;
        if self.digits.is_empty() {
            return "0".to_owned();
        }
        let sign = if self.negative { "-" } else { "" };
        let digits = String::from_utf8_lossy(&self.digits);
        let len = i64::try_from(self.digits.len()).unwrap_or(i64::MAX);
        if self.exponent >= 0 && self.exponent <= PLAIN_LIMIT {
            let zeros = "0".repeat(usize::try_from(self.exponent).unwrap_or(0));
            return format!("{sign}{digits}{zeros}");
        }
        if self.exponent < 0 && -self.exponent <= len + PLAIN_LIMIT {
            let fraction_len = usize::try_from(-self.exponent).unwrap_or(0);
            return if fraction_len < self.digits.len() {
                let (whole, fraction) = digits.split_at(self.digits.len() - fraction_len);
                format!("{sign}{whole}.{fraction}")
            } else {
                let zeros = "0".repeat(fraction_len - self.digits.len());
                format!("{sign}0.{zeros}{digits}")
            };
        }
        format!("{sign}{digits}e{}", self.exponent)
    }

    fn zero(text: &str, format: Format) -> Quantity {
        Quantity {
            text: text.to_owned(),
            negative: false,
            digits: Vec::new(),
            exponent: 0,
            format,
            keeps_text: false,
            int64_backed: false,
        }
    }

    /// Builds a quantity from `±digits × 10^exponent`, digits possibly padded.
    fn from_parts(
        text: &str,
        negative: bool,
        mut digits: Vec<u8>,
        exponent: i64,
        format: Format,
    ) -> Quantity {
        let leading = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..leading);
        let trailing = digits.iter().rev().take_while(|&&d| d == b'0').count();
        digits.truncate(digits.len() - trailing);
        if digits.is_empty() {
            return Quantity::zero(text, format);
        }
        Quantity {
            text: text.to_owned(),
            negative,
            digits,
            exponent: exponent.saturating_add(i64::try_from(trailing).unwrap_or(i64::MAX)),
            format,
            keeps_text: false,
            int64_backed: false,
        }
    }

    /// Position of the most significant digit: a non-zero value lies in
    /// `[10^(order-1), 10^order)`.
    fn order(&self) -> i64 {
        order(&self.digits, self.exponent)
    }

    fn signum(&self) -> i8 {
        match (self.digits.is_empty(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }

    fn cmp_magnitude(&self, other: &Quantity) -> Ordering {
        cmp_magnitude(&self.digits, self.exponent, &other.digits, other.exponent)
    }

    /// `AsCanonicalBase1024Bytes` for a binary-format value that Kubernetes
    /// writes with a binary suffix: an integer of at least 1024 in magnitude.
    /// `None` when Kubernetes falls back to the decimal form.
    fn base_1024(&self) -> Option<String> {
        if self.exponent < 0 || self.order() < 4 {
            return None;
        }
        if cmp_magnitude(&self.digits, self.exponent, b"1024", 0) == Ordering::Less {
            return None;
        }
        let mut value = small_integer(&self.digits, self.exponent)?;
        let mut power = 0usize;
        while value >= 1024 && value % 1024 == 0 {
            value /= 1024;
            power += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(power)?;
        Some(format!("{value}{suffix}"))
    }

    /// `AsCanonicalBytes` and the suffix for `format` (decimal or exponent):
    /// the exponent, held in 32 bits, lowered to a multiple of three.
    fn decimal_form(&self, format: Format) -> String {
        let mut mantissa = self.digits.clone();
        // Kubernetes holds the exponent in an int32; the cast wraps as Go's does.
        let mut exponent = self.exponent as i32;
        let steps = match exponent % 3 {
            1 | -2 => 1,
            2 | -1 => 2,
            _ => 0,
        };
        if self.int64_backed && fits_int64_after_shift(&mantissa, steps) {
            // int64Amount.AsCanonicalBytes: one multiplication by 10 or 100.
            mantissa.extend(std::iter::repeat_n(b'0', steps));
            exponent = exponent.wrapping_sub(i32::try_from(steps).unwrap_or(0));
        } else {
            // infDecAmount.AsCanonicalBytes: lower until a multiple of three.
            while exponent % 3 != 0 {
                mantissa.push(b'0');
                exponent = exponent.wrapping_sub(1);
            }
        }
        let suffix = match format {
            Format::DecimalExponent if exponent == 0 => String::new(),
            Format::DecimalExponent => format!("e{exponent}"),
            _ => decimal_suffix(exponent).to_owned(),
        };
        format!("{}{suffix}", String::from_utf8_lossy(&mantissa))
    }
}

/// `parseQuantityString`: splits the text, or returns the byte offset of the
/// first character the grammar does not allow.
fn scan(s: &[u8]) -> Result<Scanned<'_>, usize> {
    let end = s.len();
    let zero = |positive| Scanned {
        positive,
        value: b"0",
        num: b"0",
        denom: b"",
        suffix: b"",
    };
    let (positive, mut pos) = match s.first() {
        Some(b'-') => (false, 1),
        Some(b'+') => (true, 1),
        _ => (true, 0),
    };
    while s.get(pos) == Some(&b'0') {
        pos += 1;
    }
    if pos >= end {
        return Ok(zero(positive));
    }
    let num_end = digits_end(s, pos);
    let rest = |from: usize| s.get(from..).unwrap_or_default();
    let upto = |to: usize| s.get(..to).unwrap_or_default();
    let between = |from: usize, to: usize| s.get(from..to).unwrap_or_default();
    if num_end >= end {
        return Ok(Scanned {
            positive,
            value: s,
            num: rest(pos),
            denom: b"",
            suffix: b"",
        });
    }
    let num = if num_end == pos {
        b"0"
    } else {
        between(pos, num_end)
    };
    pos = num_end;
    let mut denom: &[u8] = b"";
    if s.get(pos) == Some(&b'.') {
        pos += 1;
        let denom_end = digits_end(s, pos);
        if denom_end >= end {
            return Ok(Scanned {
                positive,
                value: s,
                num,
                denom: rest(pos),
                suffix: b"",
            });
        }
        denom = between(pos, denom_end);
        pos = denom_end;
    }
    let value = upto(pos);
    let suffix_start = pos;
    pos += rest(pos)
        .iter()
        .take_while(|b| SUFFIX_LETTERS.contains(b))
        .count();
    if matches!(s.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    pos = digits_end(s, pos);
    if pos < end {
        return Err(pos);
    }
    Ok(Scanned {
        positive,
        value,
        num,
        denom,
        suffix: rest(suffix_start),
    })
}

fn digits_end(s: &[u8], from: usize) -> usize {
    from + s
        .get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// `interpret` in suffix.go: the base, the power of that base, and the format.
fn interpret(suffix: &[u8]) -> Result<(u32, i32, Format), Reason> {
    use Format::{BinarySI, DecimalExponent, DecimalSI};
    Ok(match suffix {
        b"" => (10, 0, DecimalSI),
        b"n" => (10, -9, DecimalSI),
        b"u" => (10, -6, DecimalSI),
        b"m" => (10, -3, DecimalSI),
        b"k" => (10, 3, DecimalSI),
        b"M" => (10, 6, DecimalSI),
        b"G" => (10, 9, DecimalSI),
        b"T" => (10, 12, DecimalSI),
        b"P" => (10, 15, DecimalSI),
        b"E" => (10, 18, DecimalSI),
        b"Ki" => (2, 10, BinarySI),
        b"Mi" => (2, 20, BinarySI),
        b"Gi" => (2, 30, BinarySI),
        b"Ti" => (2, 40, BinarySI),
        b"Pi" => (2, 50, BinarySI),
        b"Ei" => (2, 60, BinarySI),
        [b'e' | b'E', exponent @ ..] if !exponent.is_empty() => {
            let parsed = parse_go_int64(exponent).ok_or_else(|| {
                Reason::BadExponent(String::from_utf8_lossy(exponent).into_owned())
            })?;
            // Kubernetes reads 64 bits and keeps the low 32 (`int32(parsed)`).
            (10, parsed as i32, DecimalExponent)
        }
        _ => {
            return Err(Reason::UnknownSuffix(
                String::from_utf8_lossy(suffix).into_owned(),
            ))
        }
    })
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits,
/// within the 64-bit range.
fn parse_go_int64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        (magnitude <= 1 << 63).then(|| 0i64.wrapping_sub_unsigned(magnitude))
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// The `int64Amount` path of `ParseQuantity`: short numbers without sub-nano
/// digits. `Ok(None)` when Kubernetes takes the decimal path instead.
fn fast_path(
    text: &str,
    scanned: &Scanned<'_>,
    exponent: i32,
    format: Format,
) -> Result<Option<Quantity>, Reason> {
    // Go converts the lengths to int32; the wrapping casts do the same.
    let num_len = scanned.num.len() as i32;
    let denom_len = scanned.denom.len() as i32;
    let (precision, scale, multiplier) = match format {
        Format::DecimalSI | Format::DecimalExponent => (
            MAX_INT64_FACTORS.wrapping_sub(num_len.wrapping_add(denom_len)),
            exponent.wrapping_sub(denom_len),
            1i64,
        ),
        Format::BinarySI if scanned.denom.is_empty() => {
            // 15 - len(num) - int32(float32(exponent)*3/10) - 1; exponent is a
            // multiple of ten, so the float computation is exact.
            let digits_of_power = exponent * 3 / 10;
            (
                15i32
                    .wrapping_sub(num_len)
                    .wrapping_sub(digits_of_power)
                    .wrapping_sub(1),
                0,
                // interpret gives 10..=60 for binary suffixes.
                1i64 << exponent.clamp(0, 62),
            )
        }
        Format::BinarySI => return Ok(None),
    };
    if precision < 0 || scale < -NANO_SCALE {
        return Ok(None);
    }
    let shifted = || scanned.num.iter().chain(scanned.denom).copied();
    let mut value: i64 = 0;
    for digit in shifted() {
        // Kubernetes answers ErrNumeric when these digits do not fit an int64;
        // only a text longer than 2 GiB could get here with that many.
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(digit - b'0')))
            .ok_or(Reason::NoDigits)?;
    }
    let Some(magnitude) = value.checked_mul(multiplier) else {
        return Ok(None);
    };
    let keeps_text = match format {
        Format::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
        _ => {
            let ends_in_000 = shifted().rev().take(3).filter(|&d| d == b'0').count() == 3;
            scale % 3 == 0 && !ends_in_000 && shifted().next() != Some(b'0')
        }
    };
    let mut quantity = Quantity::from_parts(
        text,
        !scanned.positive,
        magnitude.to_string().into_bytes(),
        i64::from(scale),
        format,
    );
    quantity.keeps_text = keeps_text;
    quantity.int64_backed = true;
    Ok(Some(quantity))
}

/// The `inf.Dec` path of `ParseQuantity`: exact decimal arithmetic, then the
/// rounding up to nano and, for binary suffixes, the cap.
fn slow_path(
    text: &str,
    scanned: &Scanned<'_>,
    base: u32,
    exponent: i32,
    mut format: Format,
) -> Result<Quantity, Reason> {
    // inf.Dec.SetString(value): at least one digit; the scale is the number of
    // digits after the decimal point.
    let unsigned = match scanned.value.split_first() {
        Some((b'-' | b'+', rest)) => rest,
        _ => scanned.value,
    };
    if !unsigned.iter().any(u8::is_ascii_digit) {
        return Err(Reason::NoDigits);
    }
    let (whole, fraction) = match unsigned.iter().position(|&b| b == b'.') {
        Some(point) => (
            unsigned.get(..point).unwrap_or_default(),
            unsigned.get(point + 1..).unwrap_or_default(),
        ),
        None => (unsigned, &[][..]),
    };
    let mut scale = fraction.len() as i32;
    let mut magnitude: Vec<u8> = whole.iter().chain(fraction).copied().collect();
    let leading = magnitude.iter().take_while(|&&d| d == b'0').count();
    magnitude.drain(..leading);

    if base == 10 {
        // amount.SetScale(amount.Scale() + Scale(exponent).infScale()), in int32.
        scale = scale.wrapping_add(exponent.wrapping_neg());
    } else if order(&magnitude, -i64::from(scale)) > 19 {
        // At least 10^19 before the multiplication: the cap at 2^63-1 decides,
        // so the long multiplication is skipped.
        magnitude = MAX_ALLOWED.to_vec();
        scale = 0;
    } else {
        for _ in 0..exponent / 10 {
            multiply_by_1024(&mut magnitude);
        }
    }
    if !magnitude.is_empty() {
        // amount.Round(amount, Nano, inf.RoundUp) on the magnitude; inf.Dec
        // computes the shift in int32, so it wraps as well.
        let shift = NANO_SCALE.wrapping_sub(scale);
        if shift == i32::MIN {
            // inf.Dec negates the shift (still -2^31) and indexes its table of
            // powers of ten with it: a Go panic, never a value.
            return Err(Reason::Unreadable);
        }
        if shift < 0 {
            round_up(&mut magnitude, -i64::from(shift));
            scale = NANO_SCALE;
        }
    }
    let mut quantity = Quantity::from_parts(
        text,
        !scanned.positive,
        magnitude,
        -i64::from(scale),
        format,
    );
    if format == Format::BinarySI {
        if cmp_magnitude(&quantity.digits, quantity.exponent, MAX_ALLOWED, 0) == Ordering::Greater {
            quantity.digits = MAX_ALLOWED.to_vec();
            quantity.exponent = 0;
        }
        if !quantity.digits.is_empty() && quantity.order() <= 0 {
            format = Format::DecimalSI;
        }
    }
    quantity.format = format;
    Ok(quantity)
}

/// Multiplies a big-endian string of ASCII digits by 1024 in place.
fn multiply_by_1024(digits: &mut Vec<u8>) {
    let mut carry: u32 = 0;
    for d in digits.iter_mut().rev() {
        let v = u32::from(*d - b'0') * 1024 + carry;
        *d = b'0' + (v % 10) as u8;
        carry = v / 10;
    }
    let mut head = Vec::new();
    while carry > 0 {
        head.push(b'0' + (carry % 10) as u8);
        carry /= 10;
    }
    if !head.is_empty() {
        head.reverse();
        digits.splice(0..0, head);
    }
}

/// Divides a non-zero magnitude (ASCII digits, no leading zeros) by `10^places`,
/// rounding away from zero (`inf.RoundUp`).
fn round_up(digits: &mut Vec<u8>, places: i64) {
    let len = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    if places >= len {
        digits.clear();
        digits.push(b'1');
        return;
    }
    let keep = usize::try_from(len - places).unwrap_or(0);
    let dropped_non_zero = digits
        .get(keep..)
        .unwrap_or_default()
        .iter()
        .any(|&d| d != b'0');
    digits.truncate(keep);
    if dropped_non_zero {
        for d in digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                return;
            }
        }
        digits.insert(0, b'1');
    }
}

fn order(digits: &[u8], exponent: i64) -> i64 {
    i64::try_from(digits.len())
        .unwrap_or(i64::MAX)
        .saturating_add(exponent)
}

/// Compares two non-negative values `digits × 10^exponent` (normalized digits).
fn cmp_magnitude(a: &[u8], a_exp: i64, b: &[u8], b_exp: i64) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        (false, false) => {}
    }
    // Both digit strings start and end with a non-zero digit, so once the
    // orders agree a lexicographic comparison is a numeric one.
    order(a, a_exp).cmp(&order(b, b_exp)).then_with(|| a.cmp(b))
}

/// The value as an unsigned integer, if it is one below 2⁶⁴.
fn small_integer(digits: &[u8], exponent: i64) -> Option<u64> {
    let mut value: u64 = 0;
    for &d in digits {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    for _ in 0..exponent {
        value = value.checked_mul(10)?;
    }
    Some(value)
}

/// Whether `digits` followed by `zeros` zeros is still an int64.
fn fits_int64_after_shift(digits: &[u8], zeros: usize) -> bool {
    let shifted = i64::try_from(zeros).unwrap_or(i64::MAX);
    small_integer(digits, shifted).is_some_and(|v| i64::try_from(v).is_ok())
}

/// The DecimalSI suffix for a power of ten. Kubernetes 1.34/1.35 write no
/// suffix at all when none exists (`CanonicalizeBytes` ignores the failed look-up).
fn decimal_suffix(exponent: i32) -> &'static str {
    match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => "",
    }
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
        let reason = match reason {
            Reason::UnknownSuffix(s) => Reason::UnknownSuffix(shorten(&s)),
            Reason::BadExponent(s) => Reason::BadExponent(shorten(&s)),
            other => other,
        };
        QuantityError { input, reason }
    }
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(QuantityError::SHOWN_CHARS).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Empty => f.write_str("it is empty"),
            Reason::Unexpected { character, at } if character.is_whitespace() => {
                write!(f, "whitespace {character:?} at byte {at}")
            }
            Reason::Unexpected { character, at } => {
                write!(f, "unexpected {character:?} at byte {at}")
            }
            Reason::UnknownSuffix(suffix) => write!(f, "unknown suffix {suffix:?}"),
            Reason::BadExponent(exponent) => {
                write!(f, "the exponent {exponent:?} is not a 64-bit integer")
            }
            Reason::NoDigits => f.write_str("the number has no digits"),
            Reason::Unreadable => f.write_str(
                "Kubernetes fails to compute its value (its decimal rounding breaks on this exponent)",
            ),
        }
    }
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a valid quantity: {}; expected a number with an optional suffix \
             (Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E) or exponent (e.g. 1e9)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for QuantityError {}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn assert_all_equal(texts: &[&str]) {
        for a in texts {
            for b in texts {
                assert_eq!(q(a), q(b), "{a} == {b}");
            }
        }
    }

    fn assert_less(a: &str, b: &str) {
        assert!(q(a) < q(b), "{a} < {b}");
        assert!(q(b) > q(a), "{b} > {a}");
    }

    fn invalid(text: &str) -> String {
        match Quantity::parse(text) {
            Ok(parsed) => panic!("{text:?} should be invalid, parsed as {parsed:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn spellings_of_one_gibibyte_are_equal() {
        assert_all_equal(&[
            "1Gi",
            "1024Mi",
            "1048576Ki",
            "1073741824",
            "1.073741824G",
            "1073741824000m",
            "1073741824000000u",
            "1073741824000000000n",
            "1.073741824e9",
            "0.0009765625Ti",
            "+1Gi",
            "001Gi",
        ]);
        assert_less("1G", "1Gi");
        assert_less("1Gi", "1073849198182400u");
        assert_less("1073849198182400u", "2Gi");
    }

    #[test]
    fn a_number_without_digits_is_zero_unless_kubernetes_needs_its_decimal_path() {
        for zero in [
            ".", "-", "+", "-.", "Ki", "Gi", "Ti", "m", "E", "e3", "e-9", ".Ki", "0Ei",
        ] {
            assert_eq!(q(zero), q("0"), "{zero}");
        }
        // These reach inf.Dec.SetString with no digit (ErrNumeric).
        for numeric in ["Pi", "Ei", "e-10", "-.e-10", ".Ei"] {
            assert!(
                invalid(numeric).contains("the number has no digits"),
                "{numeric}"
            );
        }
    }

    #[test]
    fn values_below_nano_round_up_away_from_zero() {
        assert_all_equal(&["0.1n", "1n", "1e-2147483647"]);
        assert_all_equal(&["1.1n", "2n", "0.000000000001Ki"]);
        assert_all_equal(&["-0.1n", "-1n"]);
        assert_all_equal(&["0.0000000000", "0e-99"]);
        // Exact digits at nano are kept; one digit further rounds up.
        assert_less("0.000000001", "0.0000000010000000001");
        assert_all_equal(&["0.0000000010000000001", "2n"]);
    }

    #[test]
    fn binary_values_are_capped_and_decimal_values_are_not() {
        assert_all_equal(&[
            "8Ei",
            "9Ei",
            "9223372036854775807",
            "99999999999999999999Ki",
        ]);
        assert_all_equal(&["-8Ei", "-9223372036854775807"]);
        assert_less("8Ei", "9223372036854775808");
        assert_less("8Ei", "10E");
        assert_all_equal(&["4Ei", "4611686018427387904"]);
    }

    #[test]
    fn the_exponent_is_read_in_64_bits_and_kept_in_32() {
        // int32(4294967297) == 1.
        assert_all_equal(&["1e4294967297", "10"]);
        assert_all_equal(&["1e4294967296", "1"]);
        // int32(9223372036854775807) == -1.
        assert_all_equal(&["1e9223372036854775807", "100m"]);
        assert_all_equal(&["1e-9223372036854775808", "1"]);
        assert!(invalid("1e9223372036854775808").contains("is not a 64-bit integer"));
        // The scale then wraps: -2^31 minus one decimal place is 2^31 - 1.
        assert_eq!(q("1.5e-2147483648").exact_decimal(), "15e2147483647");
        // 10^2^31 overflows inf.Dec's rounding shift, which yields one nano.
        assert_all_equal(&["1e2147483648", "1e-2147483648", "1n"]);
        assert_less("1e2147483646", "1e2147483647");
        // 19 digits take the decimal path, where 9 - (-2147483639) wraps to
        // -2^31: inf.Dec panics on it, so the text has no value.
        let message = invalid("1000000000000000000e2147483639");
        assert!(
            message.contains("Kubernetes fails to compute its value"),
            "{message}"
        );
        assert_eq!(
            q("1000000000000000000e2147483638").exact_decimal(),
            "1e2147483656"
        );
    }

    #[test]
    fn exact_decimal_writes_the_value() {
        assert_eq!(q("1.0001Gi").exact_decimal(), "1073849198.1824");
        assert_eq!(q("-0.5n").exact_decimal(), "-0.000000001");
        assert_eq!(q("1e70").exact_decimal(), "1e70");
        assert_eq!(q("12E").exact_decimal(), "12000000000000000000");
        assert_eq!(q("-0").exact_decimal(), "0");
    }

    #[test]
    fn canonical_is_what_kubernetes_writes_back() {
        for (text, canonical) in [
            ("1.0001Gi", "1073849198182400u"),
            ("1.5Gi", "1536Mi"),
            ("1.5", "1500m"),
            ("1024Mi", "1Gi"),
            ("0.5Ki", "512"),
            ("100.035Ki", "102435840m"),
            ("8Ei", "9223372036854775807"),
            ("1.01E", "1010P"),
            ("1000E", "1"),
            ("1.5e2147483647", "1.5e2147483647"),
            ("1.5e2147483646", "1500e2147483643"),
            ("10e2147483647", "10e2147483647"),
            ("-1.5Gi", "-1536Mi"),
            ("0.0", "0"),
            // Texts found canonical while parsing are written back as given.
            ("+1Ki", "+1Ki"),
            ("007Gi", "007Gi"),
            ("1.500k", "1.500k"),
            ("1E3", "1E3"),
        ] {
            assert_eq!(q(text).canonical(), canonical, "{text}");
        }
    }

    #[test]
    fn formats_are_remembered() {
        assert_eq!(q("1Gi").format(), Format::BinarySI);
        assert_eq!(q("0.5e-9").format(), Format::DecimalExponent);
        assert_eq!(q("1k").format(), Format::DecimalSI);
        // A binary value below 1 becomes decimal.
        assert_eq!(q("0.000000000001Ki").format(), Format::DecimalSI);
    }

    #[test]
    fn json_values_are_trimmed_and_not_unescaped() {
        let json = |raw: &str| Quantity::from_json(raw);
        assert_eq!(json(r#"" 2Gi""#).unwrap(), q("2Gi"));
        assert_eq!(json(r#"" 2Gi""#).unwrap().as_str(), "2Gi");
        assert_eq!(json("\"\u{a0}2Gi\u{2028}\"").unwrap(), q("2Gi"));
        assert_eq!(json("1.5e9").unwrap(), q("1500M"));
        assert_eq!(json("null").unwrap(), q("0"));
        assert_eq!(json("null").unwrap().canonical(), "0");
        assert!(json(r#""\t2Gi""#).is_err());
        assert!(json(r#""\u0032Gi""#).is_err());
        assert!(json(r#""""#).is_err());
        // Trimming happens only for JSON.
        assert!(invalid(" 2Gi").contains("whitespace ' ' at byte 0"));
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let message = invalid("1.5.3Gi");
        assert!(
            message.starts_with(r#""1.5.3Gi" is not a valid quantity: unexpected '.' at byte 3; "#),
            "{message}"
        );
        assert!(message.contains("(Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E)"));
        assert!(invalid("1gi").contains("unexpected 'g' at byte 1"));
        assert!(invalid("0.1mi").contains(r#"unknown suffix "mi""#));
        assert!(invalid("1e").contains(r#"unknown suffix "e""#));
        assert!(invalid("").contains("it is empty"));
        assert!(invalid("1e+").contains(r#"the exponent "+" is not a 64-bit integer"#));
        let long = invalid(&("9".repeat(1_000_000) + "gi"));
        assert!(long.len() < 400, "message is {} bytes", long.len());
    }

    #[test]
    fn long_texts_cost_linear_time_and_compare_exactly() {
        // About the size of the API server's request limit.
        let nines = "9".repeat(3_000_000);
        assert_eq!(q(&format!("{nines}Ki")), q("8Ei"));
        let tiny = format!("0.{}1", "0".repeat(3_000_000));
        assert_eq!(q(&tiny), q("1n"));
        let big = format!("1{}", "0".repeat(3_000_000));
        let bigger = format!("1{}1", "0".repeat(2_999_999));
        assert_less(&big, &bigger);
        assert_eq!(q(&big), q("1e3000000"));
        let long_fraction = format!("1.{nines}");
        assert_eq!(q(&long_fraction), q("2"));
        assert_eq!(
            q(&format!("{nines}.5E")).canonical(),
            format!("{nines}500P")
        );
    }

    #[test]
    fn round_up_carries() {
        let mut digits = b"1999".to_vec();
        round_up(&mut digits, 1);
        assert_eq!(digits, b"200");
        let mut digits = b"999".to_vec();
        round_up(&mut digits, 1);
        assert_eq!(digits, b"100");
        let mut digits = b"12".to_vec();
        round_up(&mut digits, 5);
        assert_eq!(digits, b"1");
        let mut digits = b"1200".to_vec();
        round_up(&mut digits, 2);
        assert_eq!(digits, b"12");
    }

    #[test]
    fn go_int64_bounds() {
        assert_eq!(parse_go_int64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_go_int64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_go_int64(b"9223372036854775808"), None);
        assert_eq!(parse_go_int64(b"+0003"), Some(3));
        assert_eq!(parse_go_int64(b"-"), None);
        assert_eq!(parse_go_int64(b"1_0"), None);
    }

    #[test]
    fn no_text_makes_the_parser_panic() {
        const ALPHABET: &[char] = &[
            '0', '1', '5', '9', '.', '+', '-', 'e', 'E', 'i', 'n', 'u', 'm', 'k', 'K', 'M', 'G',
            'T', 'P', ' ', 'x', '٣', '\u{a0}',
        ];
        // A fixed pseudo-random walk over short texts of that alphabet.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 9) as usize;
            let text: String = (0..len)
                .map(|i| ALPHABET[((state >> (i * 5)) % ALPHABET.len() as u64) as usize])
                .collect();
            if let Ok(parsed) = Quantity::parse(&text) {
                let canonical = parsed.canonical();
                assert!(
                    Quantity::parse(&canonical).is_ok(),
                    "{text:?} -> {canonical:?}"
                );
                let _ = parsed.exact_decimal();
            }
            let _ = Quantity::from_json(&format!("\"{text}\""));
        }
    }
}
