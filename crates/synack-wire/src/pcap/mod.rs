//! pcap and pcapng files (placeholder).
