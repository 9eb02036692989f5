//! What one measured iteration cost, and the record of every iteration of a run.
//!
//! Criterion measures the time it is given; the figures it has no notion of (client CPU, peak
//! heap, time to first row, latency percentiles, run-to-run spread) are taken here around the
//! same iterations and kept in a [`Recorder`] for the report.
//!
//! Heap figures come from [`peak_alloc::PeakAlloc`]'s process-wide counters, which only move
//! when the binary installs it as its global allocator (the integration bench does).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use peak_alloc::PeakAlloc;

/// The client's CPU time so far (user + system, every thread of this process).
pub fn cpu_time() -> Duration {
    usage().0
}

/// The client's CPU time so far and its context switches (voluntary and involuntary, every
/// thread of this process), from one `getrusage`.
fn usage() -> (Duration, u64) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            let switches = u.voluntary_context_switches() + u.involuntary_context_switches();
            (
                tv(u.user_time()) + tv(u.system_time()),
                u64::try_from(switches).unwrap_or(0),
            )
        }
        Err(_) => (Duration::ZERO, 0),
    }
}

/// Heap bytes allocated right now.
pub fn heap_now() -> u64 {
    PeakAlloc.current_usage() as u64
}

/// What a closure cost besides its result.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Wall time of the whole closure.
    pub wall: Duration,
    /// Client CPU time (all threads) during it.
    pub cpu: Duration,
    /// The most heap held at once during it, above `heap_base`.
    pub peak_heap: u64,
    /// The process's context switches during it (voluntary + involuntary, all threads).
    pub context_switches: u64,
}

/// Runs `f`, measuring its wall time, CPU time and peak heap above `heap_base` (the heap in use
/// before the client under test was created, so its connection buffers count).
pub fn metered<T>(heap_base: u64, f: impl FnOnce() -> T) -> (T, Cost) {
    PeakAlloc.reset_peak_usage();
    let (cpu0, switches0) = usage();
    let t0 = Instant::now();
    let value = f();
    let wall = t0.elapsed();
    let (cpu1, switches1) = usage();
    let cpu = cpu1.saturating_sub(cpu0);
    let peak_heap = (PeakAlloc.peak_usage() as u64).saturating_sub(heap_base);
    (
        value,
        Cost {
            wall,
            cpu,
            peak_heap,
            context_switches: switches1.saturating_sub(switches0),
        },
    )
}

/// One measured iteration.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// What criterion is told this iteration took (the group's measured quantity: a whole
    /// stream, the time to the first row, a connection set-up, a recovery…).
    pub timed: Duration,
    /// Wall time of the iteration's work, from sending the query to its last row.
    pub elapsed: Duration,
    /// Time from sending the query to the first row.
    pub ttfr: Option<Duration>,
    /// Rows received (checked against `bench_expected`).
    pub rows: u64,
    /// JSON text bytes received, when the client can tell cheaply.
    pub bytes: u64,
    /// Bytes read from the socket, framing included (jsonwire's `Stats::wire_bytes`).
    pub wire_bytes: Option<u64>,
    /// Client–server round trips (jsonwire's `Stats::round_trips`).
    pub round_trips: Option<u64>,
    /// The largest read-buffer capacity the connection held (jsonwire's
    /// `Stats::buffer_high_water`).
    pub buffer_high_water: Option<u64>,
    /// Socket reads that returned data (the raw socket).
    pub reads: Option<u64>,
    /// Client CPU time.
    pub cpu: Duration,
    /// Peak heap above the base, in bytes.
    pub peak_heap: u64,
    /// The process's context switches (when the sample was metered).
    pub context_switches: Option<u64>,
    /// Per-query latencies, for groups that run many queries per iteration.
    pub latencies: Vec<Duration>,
    /// Queries that failed, for groups that run many queries per iteration.
    pub errors: u64,
    /// Bytes the client read from its socket after dropping a stream (early exit).
    pub bytes_after_drop: Option<u64>,
}

impl Sample {
    /// Fills in the cost figures.
    pub fn with_cost(mut self, cost: Cost) -> Sample {
        self.cpu = cost.cpu;
        self.peak_heap = cost.peak_heap;
        self.context_switches = Some(cost.context_switches);
        self
    }
}

/// Identifies a row of the report: `area/case/client`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The group's area, such as `throughput`.
    pub area: String,
    /// The workload, such as `1m`.
    pub case: String,
    /// The client and mode, such as `jsonwire_raw`.
    pub client: String,
}

impl Key {
    /// A key from its three parts.
    pub fn new(area: &str, case: &str, client: &str) -> Key {
        Key {
            area: area.to_owned(),
            case: case.to_owned(),
            client: client.to_owned(),
        }
    }

    /// `area/case/client`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.area, self.case, self.client)
    }
}

/// Every iteration of a run, grouped by report row and by criterion call (a warm-up round or
/// a sample), in the order they ran.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    rows: Vec<(Key, Vec<Vec<Sample>>)>,
    notes: Vec<(String, String)>,
    builds: Vec<(Key, String)>,
}

impl Recorder {
    /// An empty record.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the iterations of one criterion call.
    pub fn add_call(&self, key: &Key, samples: Vec<Sample>) {
        let mut inner = self.lock();
        match inner.rows.iter_mut().find(|(k, _)| k == key) {
            Some((_, calls)) => calls.push(samples),
            None => inner.rows.push((key.clone(), vec![samples])),
        }
    }

    /// Adds a line to an area's section of the report (a skipped case, an invariant's verdict).
    pub fn note(&self, area: &str, text: impl Into<String>) {
        let text = text.into();
        eprintln!("note [{area}]: {text}");
        self.lock().notes.push((area.to_owned(), text));
    }

    /// The measured iterations per row: every call but the first (criterion's first call is a
    /// warm-up round, or the 1-iteration probe of `--quick`), unless there is only one.
    pub fn measured(&self) -> Vec<(Key, Vec<Sample>)> {
        self.lock()
            .rows
            .iter()
            .map(|(key, calls)| {
                let skip = usize::from(calls.len() > 1);
                let samples: Vec<Sample> = calls[skip..].iter().flatten().cloned().collect();
                (key.clone(), samples)
            })
            .filter(|(_, s)| !s.is_empty())
            .collect()
    }

    /// The measured iterations of `key` (empty when it has none).
    pub fn samples_of(&self, key: &Key) -> Vec<Sample> {
        self.measured()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s)
            .unwrap_or_default()
    }

    /// A figure computed from the measured iterations of `key`; `None` when it has none.
    pub fn figure(&self, key: &Key, f: impl Fn(&[Sample]) -> Option<f64>) -> Option<f64> {
        let samples = self.samples_of(key);
        if samples.is_empty() {
            return None;
        }
        f(&samples)
    }

    /// The median over the measured iterations of `key` of `get`.
    pub fn median_of(&self, key: &Key, get: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
        self.figure(key, |s| {
            median(&s.iter().filter_map(&get).collect::<Vec<_>>())
        })
    }

    /// Records that the row `key` was measured by another build than this benchmark's (a peer
    /// with a build of its own), described by `build`; summary.json gives it as the row's
    /// `build`.
    pub fn built_by(&self, key: &Key, build: impl Into<String>) {
        let build = build.into();
        let mut inner = self.lock();
        match inner.builds.iter_mut().find(|(k, _)| k == key) {
            Some((_, b)) => *b = build,
            None => inner.builds.push((key.clone(), build)),
        }
    }

    /// The other build that measured `key`; `None` for this benchmark's own rows.
    pub fn build_of(&self, key: &Key) -> Option<String> {
        self.lock()
            .builds
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, b)| b.clone())
    }

    /// The notes, in the order they were made.
    pub fn notes(&self) -> Vec<(String, String)> {
        self.lock().notes.clone()
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

/// The `p`th percentile of `values` by linear interpolation between closest ranks.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

/// Half the range relative to the median, in percent: every value lies within ± this much of
/// the median (summary.json's `spread_pct`).
pub fn spread_pct(values: &[f64]) -> Option<f64> {
    let med = median(values)?;
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    (med > 0.0).then(|| (max - min) / 2.0 / med * 100.0)
}

/// Milliseconds as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&v), Some(2.5));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn spread_is_half_the_range_over_the_median() {
        assert_eq!(spread_pct(&[90.0, 100.0, 110.0]), Some(10.0));
    }

    #[test]
    fn the_first_call_is_warm_up() {
        let r = Recorder::new();
        let k = Key::new("a", "c", "x");
        let s = |rows| Sample {
            rows,
            ..Sample::default()
        };
        r.add_call(&k, vec![s(1)]);
        r.add_call(&k, vec![s(2), s(3)]);
        let m = r.measured();
        assert_eq!(m[0].1.iter().map(|s| s.rows).collect::<Vec<_>>(), [2, 3]);
    }
}
