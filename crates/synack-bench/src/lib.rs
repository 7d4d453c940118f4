//! Benchmark workloads for synack and its baselines (placeholder).
