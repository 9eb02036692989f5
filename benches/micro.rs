//! The micro tier of the jsonwire benchmarks: the client's CPU work, no database.
//!
//! `cargo bench --bench micro` (under a minute and a half on 2 cores); `-- --quick` for a
//! smoke run; `-- framing/` or any other id prefix to run one area. Groups, named
//! `area/case/parameter`:
//!
//! - `framing`: query response bytes to rows, whole and split into socket-sized reads;
//! - `decode`: a row's JSON per stream mode (raw, validate, `Value`, typed) by document size;
//! - `chunking`: rows batched into bounded chunks as `RawStream::next_chunk` does;
//! - `config`, `sql`, `scram`, `errors`, `encode`: connection strings, SQL building, password
//!   authentication, server errors, and query encoding.
//!
//! Inputs are generated deterministically (`micro/fixtures.rs`), and each benchmark checks its
//! result once before it is measured.

use std::time::Duration;

use criterion::Criterion;

#[path = "micro/chunking.rs"]
mod chunking;
#[path = "micro/config.rs"]
mod config;
#[path = "micro/decode.rs"]
mod decode;
#[path = "micro/encode.rs"]
mod encode;
#[path = "micro/errors.rs"]
mod errors;
#[path = "micro/fixtures.rs"]
mod fixtures;
#[path = "micro/framing.rs"]
mod framing;
#[path = "micro/rows.rs"]
mod rows;
#[path = "micro/scram.rs"]
mod scram;
#[path = "micro/sql.rs"]
mod sql;

fn main() {
    // Short defaults for the cheap groups; the groups with millisecond iterations set their
    // own. 10,000 bootstrap resamples instead of 100,000: the plots' density estimates over
    // the resamples otherwise cost seconds per benchmark, far more than measuring it.
    // Command-line flags override these defaults.
    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .nresamples(10_000)
        .configure_from_args();
    framing::benches(&mut c);
    decode::benches(&mut c);
    chunking::benches(&mut c);
    config::benches(&mut c);
    sql::benches(&mut c);
    scram::benches(&mut c);
    errors::benches(&mut c);
    encode::benches(&mut c);
    c.final_summary();
}
