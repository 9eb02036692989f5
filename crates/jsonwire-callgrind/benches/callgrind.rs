//! The instruction-count tier: jsonwire's CPU path on wire bytes, counted by Callgrind.
//!
//! `cargo bench -p jsonwire-callgrind --bench callgrind` (needs valgrind and
//! `gungraun-runner` 0.20, the version of the `gungraun` crate); `.ci/callgrind` runs it and the
//! gate. See `src/lib.rs` for what each benchmark drives and BENCHMARKING.md for the gate.

// gungraun's macros generate public modules and items without docs.
#![allow(missing_docs)]

use std::hint::black_box;

use gungraun::{library_benchmark, library_benchmark_group, main};
use jsonwire_callgrind::fixtures::{Customer, Order};
use jsonwire_callgrind::{
    customers_wire, decode, orders_wire, parse_configs, scram_login, Mode, Seen,
};

#[library_benchmark]
#[bench::raw(Mode::Raw)]
#[bench::value(Mode::Value)]
#[bench::typed(Mode::Typed)]
fn decode_100k(mode: Mode) -> Seen {
    black_box(decode::<Order>(&orders_wire(), mode))
}

#[library_benchmark]
#[bench::raw(Mode::Raw)]
#[bench::value(Mode::Value)]
#[bench::typed(Mode::Typed)]
fn large(mode: Mode) -> Seen {
    black_box(decode::<Customer>(&customers_wire(), mode))
}

#[library_benchmark]
fn startup_scram() -> usize {
    black_box(scram_login())
}

#[library_benchmark]
fn config_parse() -> usize {
    black_box(parse_configs())
}

library_benchmark_group!(name = rows; benchmarks = decode_100k, large);
library_benchmark_group!(name = connection; benchmarks = startup_scram, config_parse);

main!(library_benchmark_groups = rows, connection);
