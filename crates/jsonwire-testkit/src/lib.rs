//! Throw-away Postgres clusters for tests and benchmarks.
