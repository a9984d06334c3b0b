//! Numbers: integer range checks, strict decimal strings, bit-exact float forms. Shared
//! by the typed JSON codec and the plain-word parser.

use super::error::ValueErrorKind;
use super::{Value, ValueType};
use serde_json::Value as Json;

/// Largest magnitude RFC 8785 (IEEE-double numbers) carries exactly; 64-bit integers
/// beyond it are written as decimal strings.
pub(crate) const MAX_SAFE_INT: i128 = (1 << 53) - 1;

/// Parses a strict decimal integer: optional `-`, digits, no `+`, no leading zeros, no
/// whitespace. Returns `Err(true)` when well-formed but too large for `i128`.
pub(crate) fn parse_decimal(text: &str) -> Result<i128, bool> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(false);
    }
    text.parse::<i128>().map_err(|_| true)
}

/// `n` as a value of the integer type `ty`, or a range error.
pub(crate) fn int_value(ty: &ValueType, n: i128, shown: &str) -> Result<Value, ValueErrorKind> {
    let out_of_range = || ValueErrorKind::IntOutOfRange {
        ty: ty.kind_name(),
        value: shown.to_owned(),
    };
    macro_rules! fit {
        ($variant:ident, $t:ty) => {
            <$t>::try_from(n)
                .map(Value::$variant)
                .map_err(|_| out_of_range())
        };
    }
    match ty {
        ValueType::S8 => fit!(S8, i8),
        ValueType::U8 => fit!(U8, u8),
        ValueType::S16 => fit!(S16, i16),
        ValueType::U16 => fit!(U16, u16),
        ValueType::S32 => fit!(S32, i32),
        ValueType::U32 => fit!(U32, u32),
        ValueType::S64 => fit!(S64, i64),
        ValueType::U64 => fit!(U64, u64),
        ValueType::I32 => fit!(I32, i32),
        ValueType::I64 => fit!(I64, i64),
        other => unreachable_int(other),
    }
}

// Callers only pass integer types; keep a typed error rather than a panic anyway.
fn unreachable_int(ty: &ValueType) -> Result<Value, ValueErrorKind> {
    Err(ValueErrorKind::InvalidInt {
        ty: ty.kind_name(),
        text: String::new(),
    })
}

/// Whether `ty` is one of the 64-bit integer types (which also accept decimal strings).
pub(crate) fn is_int64(ty: &ValueType) -> bool {
    matches!(ty, ValueType::S64 | ValueType::U64 | ValueType::I64)
}

/// Decodes the JSON `value` of an integer type.
pub(crate) fn int_from_json(ty: &ValueType, v: &Json) -> Result<Value, ValueErrorKind> {
    let name = ty.kind_name();
    match v {
        Json::Number(n) => {
            let i = if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else {
                return Err(ValueErrorKind::InvalidInt {
                    ty: name,
                    text: n.to_string(),
                });
            };
            int_value(ty, i, &n.to_string())
        }
        Json::String(s) if is_int64(ty) => match parse_decimal(s) {
            Ok(i) => int_value(ty, i, s),
            Err(true) => Err(ValueErrorKind::IntOutOfRange {
                ty: name,
                value: s.clone(),
            }),
            Err(false) => Err(ValueErrorKind::InvalidInt {
                ty: name,
                text: v.to_string(),
            }),
        },
        other => Err(ValueErrorKind::Shape {
            expected: if is_int64(ty) {
                "integer or decimal string"
            } else {
                "integer"
            },
            got: json_kind(other),
        }),
    }
}

/// The JSON form of a 64-bit integer: a number while RFC 8785 can carry it exactly.
pub(crate) fn int64_json(n: i128) -> Json {
    if (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(&n) {
        // In range of i64 by construction.
        Json::from(n as i64)
    } else {
        Json::String(n.to_string())
    }
}

/// `"0x"` + zero-padded lowercase hex of the float bits.
pub(crate) fn bits_text(bits: u64, width: usize) -> String {
    format!("0x{bits:0width$x}")
}

/// The JSON `value` (and `bits` when needed) of a float given as raw bits; `wide` is
/// true for f64. NaN and negative zero carry bits; infinities are strings.
pub(crate) fn float_json(bits: u64, wide: bool) -> (Json, Option<String>) {
    let x = if wide {
        f64::from_bits(bits)
    } else {
        f64::from(f32::from_bits(bits as u32))
    };
    let width = if wide { 16 } else { 8 };
    if x.is_nan() {
        (Json::from("nan"), Some(bits_text(bits, width)))
    } else if x.is_infinite() {
        (Json::from(if x > 0.0 { "inf" } else { "-inf" }), None)
    } else {
        // Finite, so from_f64 always succeeds.
        let num = serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number);
        let needs_bits = x == 0.0 && x.is_sign_negative();
        (num, needs_bits.then(|| bits_text(bits, width)))
    }
}

/// Decodes a float `value` (and optional `bits`) of type `f32` (`wide == false`) or
/// `f64`. The bits decide the value; `value` must agree with them.
pub(crate) fn float_from_json(
    wide: bool,
    value: &Json,
    bits: Option<&Json>,
) -> Result<Value, ValueErrorKind> {
    let ty = if wide { "f64" } else { "f32" };
    // From `value`: a double for numbers/inf, None for "nan".
    let from_value: Option<f64> = match value {
        Json::Number(n) => {
            let x = n.as_f64().ok_or_else(|| ValueErrorKind::InvalidFloat {
                ty,
                text: n.to_string(),
            })?;
            if !wide && (x as f32).is_infinite() {
                return Err(ValueErrorKind::FloatOutOfRange(n.to_string()));
            }
            Some(x)
        }
        Json::String(s) => match s.as_str() {
            "nan" => None,
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => {
                return Err(ValueErrorKind::InvalidFloat {
                    ty,
                    text: value.to_string(),
                });
            }
        },
        other => {
            return Err(ValueErrorKind::Shape {
                expected: "number or \"inf\", \"-inf\", \"nan\"",
                got: json_kind(other),
            });
        }
    };
    let Some(bits) = bits else {
        return Ok(match (wide, from_value) {
            (true, Some(x)) => Value::F64(x.to_bits()),
            (true, None) => Value::F64(f64::NAN.to_bits()),
            (false, Some(x)) => Value::F32((x as f32).to_bits()),
            (false, None) => Value::F32(f32::NAN.to_bits()),
        });
    };
    let b =
        parse_bits(bits, if wide { 16 } else { 8 }).ok_or_else(|| ValueErrorKind::InvalidBits {
            ty,
            text: bits.to_string(),
        })?;
    let (exact, decoded) = if wide {
        (f64::from_bits(b), Value::F64(b))
    } else {
        (f64::from(f32::from_bits(b as u32)), Value::F32(b as u32))
    };
    let agrees = match from_value {
        None => exact.is_nan(),
        // Zeros of either sign agree: the sign is exactly what bits are for.
        Some(x) if wide => x == exact,
        Some(x) => f64::from(x as f32) == exact,
    };
    if agrees {
        Ok(decoded)
    } else {
        Err(ValueErrorKind::BitsMismatch {
            bits: bits.to_string(),
            value: value.to_string(),
        })
    }
}

fn parse_bits(v: &Json, max_digits: usize) -> Option<u64> {
    let s = v.as_str()?;
    let hex = s.strip_prefix("0x")?;
    if hex.is_empty() || hex.len() > max_digits || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// The JSON kind of `v`, for shape errors.
pub(crate) fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_decimals() {
        assert_eq!(parse_decimal("0"), Ok(0));
        assert_eq!(parse_decimal("-12"), Ok(-12));
        assert_eq!(parse_decimal("18446744073709551615"), Ok(u64::MAX as i128));
        for bad in ["", "-", "+1", "01", " 1", "1 ", "1.0", "1e3", "0x10", "--1"] {
            assert_eq!(parse_decimal(bad), Err(false), "{bad:?}");
        }
        assert_eq!(parse_decimal(&"9".repeat(60)), Err(true));
    }

    #[test]
    fn int64_switches_to_strings_beyond_2_pow_53() {
        assert_eq!(int64_json(MAX_SAFE_INT), json!(9007199254740991i64));
        assert_eq!(int64_json(-MAX_SAFE_INT), json!(-9007199254740991i64));
        assert_eq!(int64_json(MAX_SAFE_INT + 1), json!("9007199254740992"));
        assert_eq!(int64_json(-MAX_SAFE_INT - 1), json!("-9007199254740992"));
    }

    #[test]
    fn float_forms() {
        assert_eq!(
            float_json(0x7fc0_0001, false),
            (json!("nan"), Some("0x7fc00001".into()))
        );
        assert_eq!(
            float_json(0x8000_0000, false).1.as_deref(),
            Some("0x80000000")
        );
        assert_eq!(
            float_json(f64::INFINITY.to_bits(), true),
            (json!("inf"), None)
        );
        assert_eq!(float_json(1.5f64.to_bits(), true), (json!(1.5), None));
        assert_eq!(
            float_json(0.5f32.to_bits() as u64, false),
            (json!(0.5), None)
        );
    }

    #[test]
    fn bits_must_agree() {
        let one = json!(1.0);
        assert!(float_from_json(true, &one, Some(&json!("0x3ff0000000000000"))).is_ok());
        assert!(matches!(
            float_from_json(true, &one, Some(&json!("0x4000000000000000"))),
            Err(ValueErrorKind::BitsMismatch { .. })
        ));
        assert!(matches!(
            float_from_json(false, &json!("nan"), Some(&json!("0x3f800000"))),
            Err(ValueErrorKind::BitsMismatch { .. })
        ));
        for bad in [
            json!("3f800000"),
            json!("0x"),
            json!("0x1ffffffff"),
            json!(5),
            json!("0xzz"),
        ] {
            assert!(matches!(
                float_from_json(false, &one, Some(&bad)),
                Err(ValueErrorKind::InvalidBits { .. })
            ));
        }
    }
}
