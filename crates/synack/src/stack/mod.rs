//! The host: one `Stack` serving many connections (demultiplexing, listeners, ports, the
//! socket API and sysctl-style configuration).
