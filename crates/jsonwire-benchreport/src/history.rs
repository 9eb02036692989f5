//! The nightly history: a directory of `summary.json` files, one per night, named by the
//! night (`2026-12-02.json`), and the choice of nights a page draws its trend from.

use std::path::{Path, PathBuf};

use crate::data::{ReadError, Run};

/// Reads every summary in `paths`: a file is one summary, a directory every `*.json` in it
/// (not its subdirectories).
///
/// # Errors
/// A path that cannot be read, or a file that is not a summary.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Run>, ReadError> {
    let mut runs = Vec::new();
    for path in paths {
        let err = |e: std::io::Error| ReadError {
            path: path.clone(),
            message: format!("cannot read: {e}"),
        };
        if std::fs::metadata(path).map_err(err)?.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(err)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
                .collect();
            files.sort();
            for f in files {
                runs.push(Run::from_path(&f)?);
            }
        } else {
            runs.push(Run::from_path(path)?);
        }
    }
    Ok(runs)
}

/// The nights a page about `current` shows, oldest first: one run per night (the latest of
/// that night, and `current` for its own), none after `current`'s night, the last `count`.
pub fn nights<'a>(current: &'a Run, history: &'a [Run], count: usize) -> Vec<&'a Run> {
    let mut runs: Vec<&Run> = history
        .iter()
        .filter(|r| r.night() <= current.night() && r.generated_at != current.generated_at)
        .filter(|r| r.night() != current.night())
        .collect();
    runs.push(current);
    runs.sort_by(|a, b| a.generated_at.cmp(&b.generated_at));
    let mut out: Vec<&Run> = Vec::new();
    for r in runs {
        match out.last_mut() {
            Some(last) if last.night() == r.night() => *last = r,
            _ => out.push(r),
        }
    }
    let skip = out.len().saturating_sub(count.max(1));
    out.split_off(skip)
}

/// Records `run` (read from `summary`) into the history directory `dir` as `<night>.json`,
/// replacing an earlier run of the same night, and deletes the oldest nights beyond `keep`.
/// The file is `summary` as it is, plus the run's instruction counts (`instruction_counts`)
/// when it has any. Returns the file written.
///
/// # Errors
/// The directory or the file cannot be written.
pub fn record(dir: &Path, summary: &Path, run: &Run, keep: usize) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let night = run.night();
    if !is_night_name(night) {
        return Err(format!(
            "{}: generated_at {:?} does not start with a date",
            summary.display(),
            run.generated_at
        ));
    }
    let to = dir.join(format!("{night}.json"));
    let copy_err =
        |e: &dyn std::fmt::Display| format!("{} -> {}: {e}", summary.display(), to.display());
    if run.instruction_counts.is_empty() {
        std::fs::copy(summary, &to).map_err(|e| copy_err(&e))?;
    } else {
        let text = std::fs::read(summary).map_err(|e| copy_err(&e))?;
        let mut json: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| copy_err(&e))?;
        if let Some(top) = json.as_object_mut() {
            top.insert(
                "instruction_counts".to_owned(),
                serde_json::json!(run.instruction_counts),
            );
        }
        let text = serde_json::to_vec_pretty(&json).map_err(|e| copy_err(&e))?;
        std::fs::write(&to, text).map_err(|e| copy_err(&e))?;
    }
    let mut nights: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .is_some_and(is_night_name)
        })
        .collect();
    nights.sort();
    let excess = nights.len().saturating_sub(keep.max(1));
    for old in &nights[..excess] {
        std::fs::remove_file(old).map_err(|e| format!("{}: {e}", old.display()))?;
    }
    Ok(to)
}

/// `YYYY-MM-DD`.
fn is_night_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn night_names_are_dates() {
        assert!(is_night_name("2026-12-02"));
        assert!(!is_night_name("2026-12-2"));
        assert!(!is_night_name("summary"));
    }
}
