//! The SELECT builder: whatever relation name and fragments it is given, it either refuses
//! them or builds one statement whose fragments stay contained: the output lexes cleanly (no
//! quote or comment left open, no `;`), every fragment sits between its own line breaks, and
//! the LIMIT is code, not swallowed by a comment.
#![no_main]

use jsonwire::sql::{fragment_code, Select};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\u{1}');
    let relation = parts.next().unwrap_or_default();
    let mut select = Select::new(relation);
    for (i, part) in parts.enumerate() {
        if i % 2 == 0 {
            select.filter(part);
        } else {
            select.order_by(part);
        }
    }
    select.limit(data.len() as u64);
    let Ok(sql) = select.to_sql() else { return };
    let code = fragment_code(&sql)
        .unwrap_or_else(|e| panic!("the builder's output does not lex: {e}\n{sql}"));
    assert!(code.starts_with("SELECT "), "{code}");
    assert!(
        code.ends_with(&format!("\nLIMIT {}", data.len())),
        "the LIMIT was swallowed:\n{sql}\n---\n{code}"
    );
});
