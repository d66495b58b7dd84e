//! The engines plugins run on. Counting fuel made a CPU-heavy guest 14 to 19 %
//! slower (`text-stats` on 1 MB of text, `cargo bench --bench instantiate`),
//! so only plugins with a fuel limit (their manifest's, or the host's
//! `[limits] fuel`) run on an engine that counts it; the others run on one
//! that does not. Both interrupt guests by epoch, for timeouts and
//! cancellation.
//!
//! A compiled component belongs to the engine that compiled it: each engine
//! has its own linker and compile cache, whose directory is keyed by the
//! engine's configuration (fuel included), so a component cached for one is
//! never loaded into the other.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::RuntimeConfig;
use super::bindings::MissionPlugin;
use super::cache::CompileCache;
use super::state::MissionState;
use super::tuning::FuelMetering;
use crate::model::manifest::MAX_MEMORY_MB;

/// An engine and what is bound to it.
pub(super) struct Bound {
    pub engine: Engine,
    /// Whether it counts fuel.
    pub metered: bool,
    /// The host's imports (WASI, the plugin world, outbound HTTP's client side).
    pub linker: Arc<Linker<MissionState>>,
    /// Components compiled by this engine.
    pub cache: Arc<CompileCache>,
}

/// The engine of metered plugins, and that of the others (`None` when every
/// plugin is metered: [`FuelMetering::Always`], or a host-wide fuel limit).
pub(super) struct Engines {
    metered: Bound,
    unmetered: Option<Bound>,
}

impl Engines {
    /// Builds the engines `cfg` needs.
    pub fn new(cfg: &RuntimeConfig) -> anyhow::Result<Self> {
        let cache_dir = cfg.cache_dir.as_deref();
        let metered = bound(cfg, true, cache_dir)?;
        let every_plugin_metered = cfg.tuning.fuel == FuelMetering::Always || cfg.limits.fuel.is_some();
        let unmetered = match every_plugin_metered {
            true => None,
            false => Some(bound(cfg, false, cache_dir)?),
        };
        Ok(Engines { metered, unmetered })
    }

    /// The engine a plugin with this fuel limit runs on.
    pub fn for_fuel(&self, fuel: Option<u64>) -> &Bound {
        match (fuel, &self.unmetered) {
            (None, Some(unmetered)) => unmetered,
            _ => &self.metered,
        }
    }

    /// The engine of metered plugins.
    pub fn metered(&self) -> &Engine {
        &self.metered.engine
    }

    /// Every engine (for the epoch ticker).
    pub fn engines(&self) -> Vec<Engine> {
        self.all().map(|b| b.engine.clone()).collect()
    }

    /// Components compiled and loaded from the caches, over every engine.
    pub fn compile_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.all().fold((0, 0), |(compiled, hits), b| {
            (compiled + b.cache.stats.compiled.load(Relaxed), hits + b.cache.stats.hits.load(Relaxed))
        })
    }

    fn all(&self) -> impl Iterator<Item = &Bound> {
        std::iter::once(&self.metered).chain(&self.unmetered)
    }
}

/// An engine (counting fuel or not) with its linker and compile cache.
fn bound(cfg: &RuntimeConfig, consume_fuel: bool, cache_dir: Option<&Path>) -> anyhow::Result<Bound> {
    let engine =
        Engine::new(&config(cfg, consume_fuel)).map_err(anyhow::Error::from).context("creating the wasm engine")?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    MissionPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
    // Only the client side of wasi:http (no incoming handler); a component
    // importing it is loaded only with `grants.http` (imports.rs).
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let cache = Arc::new(CompileCache::new(&engine, cache_dir));
    Ok(Bound { engine, metered: consume_fuel, linker: Arc::new(linker), cache })
}

/// The engine's configuration.
fn config(cfg: &RuntimeConfig, consume_fuel: bool) -> Config {
    let tuning = &cfg.tuning;
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(consume_fuel);
    config.memory_init_cow(tuning.memory_init_cow);
    if cfg.pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(cfg.max_instances)
            .total_core_instances(cfg.max_instances * 4)
            .total_memories(cfg.max_instances * 2)
            .total_tables(cfg.max_instances * 4)
            .total_stacks(cfg.max_instances)
            .max_memory_size((MAX_MEMORY_MB as usize) << 20)
            .linear_memory_keep_resident(tuning.memory_keep_resident)
            .pagemap_scan(if tuning.pagemap_scan { Enabled::Auto } else { Enabled::No })
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(64 << 10)
            // What is still decommitted goes in batches: one flush per batch.
            .decommit_batch_size(32);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}
