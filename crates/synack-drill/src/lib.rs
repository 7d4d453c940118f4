//! A packetdrill-compatible script parser and runner for synack.
