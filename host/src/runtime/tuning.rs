//! Engine settings that trade one cost for another. The defaults are what a
//! host runs with; the others exist so that `cargo bench --bench instantiate`
//! can measure what each setting costs or saves in one build.

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
    /// (6.7 and later; ignored elsewhere). Only with the pooling allocator.
    pub pagemap_scan: bool,
}

impl Default for EngineTuning {
    fn default() -> Self {
        EngineTuning {
            fuel: FuelMetering::WhenLimited,
            memory_init_cow: true,
            // A slot's first pages are zeroed in place rather than given back
            // with madvise, which flushes the TLB on every core (the throughput
            // bench's profile showed those flushes first). Kept small: zeroing
            // a whole MiB in place cost more than the flushes it saved.
            memory_keep_resident: 64 << 10,
            pagemap_scan: false,
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
