//! The binary's own modules: arguments, report sinks, progress, history and catalogue
//! commands, and allocator tuning. The library (`icp_audit`) knows nothing of the command line.

pub(crate) mod args;
pub(crate) mod catalogue;
pub(crate) mod memory;
pub(crate) mod progress;
pub(crate) mod sink;
pub(crate) mod tracking;
