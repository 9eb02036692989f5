//! Reading one libpq value: the error for a value its keyword does not take, and the
//! spellings libpq accepts for numbers, booleans and the spaces around them.

use crate::error::Error;

/// An invalid value, named by its keyword meaning (`what`) and, when it came from the
/// environment, by the variable.
pub(super) fn invalid(what: &str, value: &str, var: Option<&str>) -> Error {
    match var {
        None => Error::config(format!("invalid {what}: {value:?}")),
        Some(var) => Error::config(format!(
            "invalid {what} in environment variable {var}: {value:?}"
        )),
    }
}

/// libpq's `parse_int_param`: an `int`, with surrounding whitespace allowed.
pub(super) fn parse_int(s: &str) -> Option<i32> {
    s.trim_matches(is_space).parse().ok()
}

/// Postgres's spellings of a boolean setting.
pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" | "t" | "y" => Some(true),
        "0" | "off" | "false" | "no" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// A count or a size: a whole non-negative number.
pub(super) fn parse_count<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.trim_matches(is_space).parse().ok()
}

/// C's `isspace` in the "C" locale, which libpq's parser uses.
pub(super) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}
