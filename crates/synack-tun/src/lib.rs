//! Linux TUN device and runtime drivers for synack.
