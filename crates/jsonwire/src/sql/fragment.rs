//! Checking a SQL fragment (a predicate or an `ORDER BY` expression) before it is pasted into
//! the statement the builder sends: the lexical rules of the PostgreSQL docs, 4.1 "Lexical
//! Structure", as far as they decide where a quote, a comment or a parenthesis ends.

use crate::error::{Error, Result};

/// The lexical shape of a fragment: code outside quotes and comments, for the builder's own
/// checks and for tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The fragment with every quoted literal, quoted identifier and comment replaced by one
    /// space: what the parser sees as code.
    pub(crate) code: String,
}

/// Checks that `text` is self-contained: every quote, dollar quote and comment (block comments
/// nest) ends inside it, parentheses balance, and no `;` ends the statement. `what` names the
/// fragment in the error.
///
/// The string rules are those of `standard_conforming_strings = on` (the default since
/// PostgreSQL 9.1): a backslash escapes only inside `E'…'`.
///
/// # Errors
/// A config error naming the problem and the fragment.
pub(crate) fn check(what: &str, text: &str) -> Result<Shape> {
    let bad = |why: &str| Error::config(format!("{what} {text:?}: {why}"));
    if text.trim().is_empty() {
        return Err(Error::config(format!("empty {what}")));
    }
    if text.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    let b = text.as_bytes();
    let mut code = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match c {
            b'-' if next == Some(b'-') => {
                // A line comment runs to the end of the line; the builder ends every fragment
                // with a newline, so one at the very end is closed there.
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                code.push(' ');
                continue;
            }
            b'/' if next == Some(b'*') => {
                let mut nest = 1;
                i += 2;
                while nest > 0 {
                    match (b.get(i), b.get(i + 1)) {
                        (Some(b'/'), Some(b'*')) => (nest, i) = (nest + 1, i + 2),
                        (Some(b'*'), Some(b'/')) => (nest, i) = (nest - 1, i + 2),
                        (Some(_), _) => i += 1,
                        (None, _) => return Err(bad("unterminated /* comment")),
                    }
                }
                code.push(' ');
                continue;
            }
            b'\'' => {
                let escapes =
                    i > 0 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !is_ident_byte(b[i - 2]));
                i = skip_quoted(b, i + 1, b'\'', escapes)
                    .ok_or_else(|| bad("unterminated quoted string"))?;
                code.push(' ');
                continue;
            }
            b'"' => {
                i = skip_quoted(b, i + 1, b'"', false)
                    .ok_or_else(|| bad("unterminated quoted identifier"))?;
                code.push(' ');
                continue;
            }
            b'$' if i == 0 || !is_ident_byte(b[i - 1]) => {
                if let Some(tag_len) = dollar_tag(&b[i..]) {
                    let tag = &b[i..i + tag_len];
                    let body = i + tag_len;
                    let end = b[body..]
                        .windows(tag_len)
                        .position(|w| w == tag)
                        .ok_or_else(|| bad("unterminated dollar-quoted string"))?;
                    i = body + end + tag_len;
                    code.push(' ');
                    continue;
                }
            }
            b'(' => depth += 1,
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| bad("a \")\" closes a parenthesis it did not open"))?;
            }
            b';' => return Err(bad("\";\" would end the statement")),
            _ => {}
        }
        // Copy the whole character so that `code` stays valid UTF-8.
        let len = utf8_len(c);
        code.push_str(&text[i..i + len]);
        i += len;
    }
    if depth > 0 {
        return Err(bad("unclosed \"(\""));
    }
    Ok(Shape { code })
}

/// The index after the closing `quote`, starting inside the literal; a doubled quote stands for
/// itself, and with `escapes` a backslash escapes the next byte.
fn skip_quoted(b: &[u8], mut i: usize, quote: u8, escapes: bool) -> Option<usize> {
    loop {
        match *b.get(i)? {
            b'\\' if escapes => i += 2,
            c if c == quote && b.get(i + 1) == Some(&quote) => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The length of the dollar-quote tag (`$$` or `$name$`) at the start of `b`, if one is there;
/// `$1` is a parameter, not a tag.
fn dollar_tag(b: &[u8]) -> Option<usize> {
    let rest = &b[1..];
    let name = rest
        .iter()
        .take_while(|&&c| is_ident_byte(c) && c != b'$')
        .count();
    if name > 0 && rest[0].is_ascii_digit() {
        return None;
    }
    (rest.get(name) == Some(&b'$')).then_some(name + 2)
}

/// Bytes that continue an identifier (letters, digits, `_`, `$` and any non-ASCII byte).
fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> String {
        check("filter", text)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .code
    }

    #[test]
    fn quotes_comments_and_dollar_quotes_are_skipped() {
        // `_` marks a space in the expected code: each literal or comment is one.
        for (input, want) in [
            ("data->>'id' = $1", "data->>__=_$1"),
            ("a = 'it''s; (' AND b", "a_=___AND_b"),
            (r#""we;ird(" = 1"#, "__=_1"),
            ("x = E'\\'; ('", "x_=_E_"),
            ("x = e'a\\\\' AND y", "x_=_e__AND_y"),
            ("x = 'a\\' AND y", "x_=___AND_y"),
            ("x = $$ ; ) $$ + 1", "x_=___+_1"),
            ("x = $t$ $$ ; $t$", "x_=__"),
            ("x = $1 AND y = $2", "x_=_$1_AND_y_=_$2"),
            ("a$b$ = 1", "a$b$_=_1"),
            ("a /* c /* nested; */ still ( */ b", "a___b"),
            ("data->>'id' -- to the end", "data->>___"),
            ("a -- one\n AND b", "a__\n_AND_b"),
            ("(a OR b) AND (c)", "(a_OR_b)_AND_(c)"),
            ("café = 'é'", "café_=__"),
        ] {
            assert_eq!(code(input).replace(' ', "_"), want, "{input:?}");
        }
    }

    #[test]
    fn fragments_that_would_leak_are_refused_naming_the_problem() {
        for (input, why) in [
            ("data->>'id", "unterminated quoted string"),
            (r#""abc"#, "unterminated quoted identifier"),
            ("x = E'\\'", "unterminated quoted string"),
            ("x = $$ a", "unterminated dollar-quoted string"),
            ("x = $t$ a $u$", "unterminated dollar-quoted string"),
            ("a /* b", "unterminated /* comment"),
            ("a /* /* b */", "unterminated /* comment"),
            ("a) OR (true", "closes a parenthesis"),
            ("(a", "unclosed"),
            ("true; DROP TABLE t", "would end the statement"),
            ("a\0", "NUL"),
            ("  ", "empty filter"),
        ] {
            let err = check("filter", input).unwrap_err().to_string();
            assert!(err.contains(why), "{input:?}: {err}");
        }
    }
}
