//! Engine settings that trade one cost for another. The defaults are what a
//! host runs with; the others exist so that `cargo bench --bench instantiate`
//! can measure what each setting costs or saves in one build.

use wasmtime::PoolingAllocationConfig;

/// How the engine meters and resets instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineTuning {
    /// Which plugins run on an engine that counts fuel.
    pub fuel: FuelMetering,
    /// Map a module's initial memory copy-on-write from its image (wasmtime
    /// `memory_init_cow`) instead of copying its data segments in.
    pub memory_init_cow: bool,
    /// Bytes of each pooled linear memory reset in place (`memset`, or a copy
    /// from the image) rather than given back with `madvise` when an instance
    /// ends. Only with the pooling allocator.
    pub memory_keep_resident: usize,
    /// Reset only the pages an instance wrote, found with Linux' `PAGEMAP_SCAN`
    /// (6.7 and later; without it, the first `memory_keep_resident` bytes
    /// are reset whether written or not). Only with the pooling allocator.
    pub pagemap_scan: bool,
}

impl Default for EngineTuning {
    /// Where the kernel has `PAGEMAP_SCAN`, up to 1 MiB of the pages an
    /// instance wrote are reset in place and everything it only read stays
    /// mapped, so the next instance in the slot takes no page faults there:
    /// `cargo bench --bench instantiate` measured the JavaScript and Go
    /// plugins about twice as fast per mission and `noop` a third faster,
    /// with 16 MiB no better than 1 MiB. Elsewhere only the first 64 KiB are
    /// zeroed in place (zeroing a whole MiB without knowing which pages were
    /// written cost more than the TLB flushes of `madvise` it saved).
    fn default() -> Self {
        let pagemap = PoolingAllocationConfig::is_pagemap_scan_available();
        EngineTuning {
            fuel: FuelMetering::WhenLimited,
            memory_init_cow: true,
            memory_keep_resident: if pagemap { 1 << 20 } else { 64 << 10 },
            pagemap_scan: pagemap,
        }
    }
}

/// Which plugins pay for counting fuel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuelMetering {
    /// Only plugins with a fuel limit (their manifest's or the host's) run on
    /// an engine that counts fuel; the others on one that does not.
    WhenLimited,
    /// Every plugin runs on an engine that counts fuel; those without a limit
    /// get `u64::MAX` (the host before issue 14; kept for the benchmark).
    Always,
}
