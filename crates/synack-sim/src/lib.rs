//! A deterministic network simulator with virtual time for synack hosts.
