//! tcpdump text format (placeholder).
