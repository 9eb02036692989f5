//! Shared support code for the jsonwire benchmarks.
