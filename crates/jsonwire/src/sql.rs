//! Building the `SELECT` that [`Client::query`](crate::Client::query) sends, and quoting
//! identifiers.
//!
//! Predicates and `ORDER BY` expressions are SQL text written by the program, not by its
//! users: values go through bound parameters (`$1`, `$2`, …). The builder still keeps each
//! fragment to itself: it refuses one whose quote, comment or parenthesis does not end inside
//! it, or that holds a `;`, and puts each on lines of its own, so that a trailing `--` comment
//! cannot swallow the `LIMIT` that follows.

mod fragment;

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// Quotes `name` as a Postgres identifier: wrapped in double quotes, inner quotes doubled.
///
/// ```
/// assert_eq!(jsonwire::sql::quote_identifier("v_order"), r#""v_order""#);
/// assert_eq!(jsonwire::sql::quote_identifier(r#"my "view""#), r#""my ""view""""#);
/// ```
pub fn quote_identifier(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_quoted(&mut out, name);
    out
}

fn push_quoted(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// Quotes a possibly schema-qualified relation name.
///
/// The name is split on dots into at most three parts (`database.schema.relation`); each part
/// is taken literally (no case folding) unless it is already double-quoted, in which case its
/// quotes are removed first (`"my.schema"."My View"`).
///
/// ```
/// assert_eq!(jsonwire::sql::quote_relation("public.v_order").unwrap(), r#""public"."v_order""#);
/// assert_eq!(jsonwire::sql::quote_relation(r#""a.b".c"#).unwrap(), r#""a.b"."c""#);
/// ```
///
/// # Errors
/// A config error for an empty name, an empty part, an unterminated quote, a NUL byte or more
/// than three parts.
pub fn quote_relation(name: &str) -> Result<String> {
    let bad = |why: &str| Error::config(format!("invalid relation name {name:?}: {why}"));
    if name.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    let mut parts: Vec<String> = Vec::new();
    let mut chars = name.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err(bad("unterminated double quote")),
                }
            }
            if !matches!(chars.peek(), None | Some('.')) {
                return Err(bad("text after a closing double quote"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c);
                chars.next();
            }
        }
        if part.is_empty() {
            return Err(bad("empty name part"));
        }
        parts.push(part);
        match chars.next() {
            Some('.') => continue,
            _ => break,
        }
    }
    if parts.len() > 3 {
        return Err(bad("more than three dot-separated parts"));
    }
    let mut out = String::with_capacity(name.len() + 2 * parts.len() + 2);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_quoted(&mut out, part);
    }
    Ok(out)
}

/// What the server's lexer sees as code in `text`: every quoted literal, quoted identifier
/// and comment replaced by one space. The builder's check of a predicate or `ORDER BY`
/// expression, public for the fuzz targets and tests that check the builder's output.
///
/// ```
/// let code = jsonwire::sql::fragment_code("data->>'a;b' = $1 -- note").unwrap();
/// assert_eq!(code, "data->>  = $1  ");
/// assert!(jsonwire::sql::fragment_code("x = 'open").is_err());
/// ```
///
/// # Errors
/// A config error for an empty text, a NUL byte, a quote or comment left open, an unbalanced
/// parenthesis or a `;`.
pub fn fragment_code(text: &str) -> Result<String> {
    fragment::check("SQL fragment", text).map(|shape| shape.code)
}

/// The parts of `SELECT <column> FROM <relation> [WHERE …] [ORDER BY …] [LIMIT n]`.
#[derive(Debug, Clone, Default)]
pub struct Select {
    relation: String,
    column: Option<String>,
    filters: Vec<String>,
    order_by: Vec<String>,
    limit: Option<u64>,
}

impl Select {
    /// A select of the `data` column of `relation` (see [`quote_relation`]).
    pub fn new(relation: &str) -> Select {
        Select {
            relation: relation.to_owned(),
            ..Select::default()
        }
    }

    /// Selects `column` (quoted as an identifier) instead of `data`.
    pub fn column(&mut self, column: &str) -> &mut Select {
        self.column = Some(column.to_owned());
        self
    }

    /// Adds a predicate, combined with earlier ones by `AND`. Trusted SQL: see the module docs.
    pub fn filter(&mut self, predicate: &str) -> &mut Select {
        self.filters.push(predicate.to_owned());
        self
    }

    /// Adds an `ORDER BY` expression, after earlier ones. Trusted SQL: see the module docs.
    pub fn order_by(&mut self, expr: &str) -> &mut Select {
        self.order_by.push(expr.to_owned());
        self
    }

    /// Limits the number of rows.
    pub fn limit(&mut self, n: u64) -> &mut Select {
        self.limit = Some(n);
        self
    }

    /// The SQL text: one statement, each fragment between line breaks (predicates also in
    /// parentheses).
    ///
    /// # Errors
    /// A config error for an invalid relation name, or for a predicate or order expression
    /// that is empty, holds a `;`, or leaves a quote, a comment or a parenthesis open (the
    /// message names the fragment and the problem).
    pub fn to_sql(&self) -> Result<String> {
        let relation = quote_relation(&self.relation)?;
        let mut sql = String::with_capacity(64 + relation.len());
        sql.push_str("SELECT ");
        push_quoted(&mut sql, self.column.as_deref().unwrap_or("data"));
        sql.push_str(" FROM ");
        sql.push_str(&relation);
        for (i, f) in self.filters.iter().enumerate() {
            fragment::check("filter predicate", f)?;
            sql.push_str(if i == 0 { "\nWHERE (\n" } else { "\n) AND (\n" });
            sql.push_str(f);
        }
        if !self.filters.is_empty() {
            sql.push_str("\n)");
        }
        for (i, o) in self.order_by.iter().enumerate() {
            fragment::check("ORDER BY expression", o)?;
            sql.push_str(if i == 0 { "\nORDER BY\n" } else { "\n,\n" });
            sql.push_str(o);
        }
        if let Some(n) = self.limit {
            let _ = write!(sql, "\nLIMIT {n}");
        }
        Ok(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_parts_are_quoted_literally() {
        for (input, expected) in [
            ("v_order", r#""v_order""#),
            ("V_Order", r#""V_Order""#),
            ("public.v_order", r#""public"."v_order""#),
            ("db.public.v", r#""db"."public"."v""#),
            (r#""a.b"."c d""#, r#""a.b"."c d""#),
            (r#""x""y""#, r#""x""y""#),
            ("café", r#""café""#),
        ] {
            assert_eq!(quote_relation(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn bad_relation_names_are_errors_naming_the_problem() {
        for (input, why) in [
            ("", "empty name part"),
            ("a..b", "empty name part"),
            ("a.", "empty name part"),
            (r#""abc"#, "unterminated"),
            (r#""a"b"#, "after a closing"),
            ("a.b.c.d", "three"),
            ("a\0b", "NUL"),
        ] {
            let err = quote_relation(input).unwrap_err();
            assert!(err.to_string().contains(why), "{input:?}: {err}");
        }
    }

    #[test]
    fn injection_through_the_relation_name_stays_inside_the_quotes() {
        let sql = Select::new(r#"t"; DROP TABLE x; --"#).to_sql().unwrap();
        assert_eq!(sql, r#"SELECT "data" FROM "t""; DROP TABLE x; --""#);
    }

    #[test]
    fn full_select() {
        let mut s = Select::new("public.v_order");
        s.filter("data->>'status' = $1")
            .filter("(data->>'total')::numeric > $2")
            .order_by("data->>'created_at' DESC")
            .limit(10_000);
        assert_eq!(
            s.to_sql().unwrap(),
            "SELECT \"data\" FROM \"public\".\"v_order\"\nWHERE (\ndata->>'status' = $1\n) AND (\n(data->>'total')::numeric > $2\n)\nORDER BY\ndata->>'created_at' DESC\nLIMIT 10000"
        );
    }

    #[test]
    fn a_trailing_comment_cannot_swallow_what_follows() {
        let mut s = Select::new("v");
        s.filter("a = 1 -- why").order_by("data->>'id' --").limit(2);
        let sql = s.to_sql().unwrap();
        assert!(sql.ends_with("data->>'id' --\nLIMIT 2"), "{sql}");
        let code = fragment::check("statement", &sql).unwrap().code;
        assert!(
            code.ends_with("\nLIMIT 2") && code.contains("\n)\nORDER BY\n"),
            "{code}"
        );
    }

    #[test]
    fn fragments_that_escape_are_refused() {
        for (filter, order, why) in [
            ("a) OR (true", "x", "filter predicate \"a) OR (true\""),
            ("a = 'x", "x", "unterminated quoted string"),
            ("a", "x; DELETE FROM t", "ORDER BY expression"),
            ("a", "x /* ", "unterminated /* comment"),
            ("a", " ", "empty ORDER BY expression"),
        ] {
            let mut s = Select::new("v");
            s.filter(filter).order_by(order);
            let err = s.to_sql().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config);
            assert!(err.to_string().contains(why), "{filter:?} {order:?}: {err}");
        }
    }
}
