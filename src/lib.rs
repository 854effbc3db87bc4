//! Shared helpers for the examples and benchmarks.
