//! Rendering trace-clock (CLOCK_MONOTONIC) times as wall-clock RFC 3339 timestamps.

/// Offset to add to a CLOCK_MONOTONIC time to get CLOCK_REALTIME, measured now.
pub fn realtime_offset_ns() -> i128 {
    tcpmortem_kernel::proc::realtime_ns() as i128 - tcpmortem_kernel::proc::monotonic_ns() as i128
}

pub use tcpmortem_core::time::rfc3339;
