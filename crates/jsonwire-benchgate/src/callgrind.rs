//! Instruction counts from the Callgrind tier (gungraun): the committed baseline and the
//! current run, both as an instruction-count file:
//!
//! ```json
//! {"schema": 1, "instructions": {"callgrind::rows::decode_100k value": 1234567}}
//! ```
//!
//! [`collect`] makes one from gungraun's JSON output (`cargo bench -- --output-format=json`:
//! one summary object per line), naming each benchmark `module_path id`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::Error;

/// The instruction-count file's schema version.
pub const SCHEMA: u64 = 1;

/// Reads an instruction-count file: benchmark name to instructions.
///
/// # Errors
/// An unreadable file, or one that is not an instruction-count file of this schema.
pub fn read(path: &Path) -> Result<BTreeMap<String, u64>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| Error::invalid(path, format!("not JSON: {e}")))?;
    from_json(&json).map_err(|m| Error::invalid(path, m))
}

/// Whether `json` is an instruction-count file (rather than a `summary.json`).
pub fn is_instruction_counts(json: &Value) -> bool {
    json.get("instructions").is_some()
}

fn from_json(json: &Value) -> Result<BTreeMap<String, u64>, String> {
    if json.get("schema").and_then(Value::as_u64) != Some(SCHEMA) {
        return Err(format!("not an instruction-count file of schema {SCHEMA}"));
    }
    let counts = json
        .get("instructions")
        .and_then(Value::as_object)
        .ok_or("\"instructions\" is not an object")?;
    counts
        .iter()
        .map(|(name, n)| {
            n.as_u64()
                .filter(|&n| n > 0)
                .map(|n| (name.clone(), n))
                .ok_or_else(|| format!("{name:?}: {n} is not a positive instruction count"))
        })
        .collect()
}

/// The instruction-count file's JSON for `counts`.
pub fn to_json(counts: &BTreeMap<String, u64>) -> Value {
    serde_json::json!({ "schema": SCHEMA, "instructions": counts })
}

/// Collects the instruction counts of gungraun's JSON output (one benchmark summary per line).
///
/// # Errors
/// A line that is not a gungraun summary, a summary without a Callgrind instruction count, or
/// two summaries of the same benchmark; the message names the line.
pub fn collect(output: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut counts = BTreeMap::new();
    for (n, line) in output.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let at = |m: String| format!("line {}: {m}", n + 1);
        let summary: Value =
            serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
        let module = summary
            .get("module_path")
            .and_then(Value::as_str)
            .ok_or_else(|| at("no module_path: not a gungraun summary".into()))?;
        let name = match summary.get("id").and_then(Value::as_str) {
            Some(id) => format!("{module} {id}"),
            None => module.to_owned(),
        };
        let total = summary
            .pointer("/profiles/0/data/total/metrics")
            .ok_or_else(|| at(format!("{name}: no profile totals")))?;
        let ir = instructions(total).ok_or_else(|| at(format!("{name}: no instruction count")))?;
        if counts.insert(name.clone(), ir).is_some() {
            return Err(at(format!("{name} appears twice")));
        }
    }
    if counts.is_empty() {
        return Err(
            "no gungraun summary in the output (was it run with --output-format=json?)".into(),
        );
    }
    Ok(counts)
}

/// The new instruction count in a profile's metrics: the value of the `Ir` metric, in whichever
/// of gungraun's new/old wrappings it comes.
fn instructions(metrics: &Value) -> Option<u64> {
    match metrics {
        Value::Object(map) => {
            if let Some(ir) = map.get("Ir") {
                return newest(ir);
            }
            map.values().find_map(instructions)
        }
        Value::Array(items) => items.iter().find_map(instructions),
        _ => None,
    }
}

/// The current side of a metric: `{"metrics": {"Left": n}}`, `{"Both": [new, old]}`, a bare
/// integer, or `{"Int": n}`.
fn newest(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::Array(items) => items.first().and_then(newest),
        Value::Object(map) => ["metrics", "Left", "Both", "Int", "new"]
            .iter()
            .find_map(|k| map.get(*k))
            .and_then(newest),
        _ => None,
    }
}
