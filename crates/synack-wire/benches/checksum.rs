//! Checksum throughput benchmark (placeholder until the checksum lands).
fn main() {}
