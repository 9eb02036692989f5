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
        .ok_or("no \"instructions\" object: not an instruction-count file")?;
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

/// The current side of a metric: `{"values": {"new": n, "old": m}}` (gungraun 0.20),
/// `{"Both": [new, old]}`, `{"Int": n}` or a bare integer.
fn newest(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::Array(items) => items.first().and_then(newest),
        Value::Object(map) => ["values", "metrics", "Left", "Both", "Int", "new"]
            .iter()
            .find_map(|k| map.get(*k))
            .and_then(newest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line of gungraun 0.20's `--output-format=json`, cut to the fields read here.
    fn line(id: Option<&str>, ir: u64) -> String {
        let id = id.map_or(String::new(), |id| format!(r#""id":"{id}","#));
        format!(
            r#"{{"module_path":"callgrind::rows::decode_100k",{id}"profiles":[{{"data":{{"total":{{"metrics":{{"Dr":{{"values":{{"new":5}}}},"Ir":{{"values":{{"new":{ir},"old":7}}}}}},"regressions":[]}}}}}}]}}"#
        )
    }

    #[test]
    fn gungraun_lines_become_named_instruction_counts() {
        let output = format!(
            "gungraun noise on stdout\n{}\n{}\n",
            line(Some("raw"), 1000),
            line(Some("value"), 2000)
        );
        let counts = collect(&output).unwrap();
        assert_eq!(counts["callgrind::rows::decode_100k raw"], 1000);
        assert_eq!(counts["callgrind::rows::decode_100k value"], 2000);
        assert_eq!(from_json(&to_json(&counts)).unwrap(), counts);
    }

    #[test]
    fn a_benchmark_twice_or_no_count_is_an_error() {
        let twice = format!("{}\n{}", line(None, 1), line(None, 2));
        assert!(collect(&twice).unwrap_err().contains("twice"));
        assert!(collect("nothing")
            .unwrap_err()
            .contains("no gungraun summary"));
        let no_ir = r#"{"module_path":"m","profiles":[{"data":{"total":{"metrics":{}}}}]}"#;
        assert!(collect(no_ir).unwrap_err().contains("no instruction count"));
    }
}
