//! Loading a component as a plugin, in bounded time and off the async threads:
//! a static pre-check, the compile (or the cache), the world check,
//! `describe()` under an epoch deadline, the manifest, and only then the
//! compile cache.
//!
//! It all runs on a blocking thread that holds one of the runtime's compile
//! slots until it really ends, so at most `compile_concurrency` compiles use
//! CPU and memory at once, whatever gave up waiting for them. Compiling cannot
//! be interrupted; a compile over its budget is refused when it ends (or by the
//! waiting caller, which marks the job abandoned so it stores nothing).
//! `describe()` runs with the epoch ticker running and traps at its deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Linker;

use super::bindings::MissionPluginPre;
use super::cache::CompileCache;
use super::limits::Limits;
use super::state::MissionState;
use super::ticker::{EpochTicker, TICK};
use super::{LoadError, Plugin, precheck};
use crate::model::manifest::Manifest;

/// One load, owned by its blocking thread.
pub(super) struct LoadJob {
    pub engine: Engine,
    /// Whether `engine` counts fuel.
    pub metered: bool,
    pub linker: Arc<Linker<MissionState>>,
    pub cache: Arc<CompileCache>,
    pub ticker: Arc<EpochTicker>,
    pub limits: Limits,
    pub outbound: Arc<super::outbound::Shared>,
    pub digest: String,
    pub wasm: Vec<u8>,
    pub manifest: Option<Manifest>,
    /// Set by the caller that stopped waiting: nothing more is worth doing.
    pub abandoned: Arc<AtomicBool>,
    /// Where to run `describe()`'s future (the caller's runtime).
    pub handle: tokio::runtime::Handle,
}

impl LoadJob {
    /// Runs the load to its end, on the current (blocking) thread.
    pub fn run(self) -> Result<Plugin, LoadError> {
        let (component, fresh) = match self.cache.load(&self.engine, &self.digest) {
            Some(c) => (c, false),
            None => {
                precheck::precheck(&self.wasm).map_err(|e| match e {
                    precheck::PrecheckError::Malformed(m) => LoadError::Invalid(m),
                    precheck::PrecheckError::TooCostly(m) => LoadError::TooCostly(m),
                })?;
                let started = Instant::now();
                let compiled = self.cache.compile(&self.engine, &self.wasm);
                let took = started.elapsed();
                let budget = self.limits.compile_timeout();
                if took > budget || self.abandoned.load(Ordering::Acquire) {
                    return Err(LoadError::TooSlow(format!(
                        "compiling took {} ms, over the limit of {} ms",
                        took.as_millis(),
                        budget.as_millis()
                    )));
                }
                let component = compiled.map_err(|e| LoadError::Invalid(format!("{:#}", anyhow::Error::from(e))))?;
                (component, true)
            }
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(MissionPluginPre::new)
            .map_err(|e| LoadError::WrongWorld(format!("{:#}", anyhow::Error::from(e))))?;
        let info = self.describe(&pre)?;
        let manifest = match self.manifest {
            Some(m) => {
                m.check_describe(&info.name, &info.version, &info.mission_types)?;
                m
            }
            None => Manifest::from_describe(&info.name, &info.version, &info.mission_types),
        };
        manifest.validate(&self.limits.max)?;
        let capabilities =
            super::imports::check(&self.engine, &component, &manifest.grants).map_err(LoadError::NotGranted)?;
        if fresh && !self.abandoned.load(Ordering::Acquire) {
            self.cache.store(&self.digest, &component);
        }
        Ok(Plugin { manifest, digest: self.digest, pre, metered: self.metered, capabilities })
    }

    /// Asks the plugin to describe itself, with the epoch ticker running and
    /// a deadline in ticks: a `describe()` that spins is trapped there.
    fn describe(&self, pre: &MissionPluginPre<MissionState>) -> Result<super::bindings::WitPluginInfo, LoadError> {
        let mut manifest = self.manifest.clone().unwrap_or_else(|| Manifest::from_describe("", "0.0.0", &[]));
        // describe() sends no requests and reads no capability, whatever the plugin is granted.
        manifest.grants.http = None;
        let mut store =
            super::new_store(&self.engine, self.metered, &self.limits, &self.outbound, None, &manifest, None);
        let timeout = self.limits.describe_timeout();
        store.set_epoch_deadline(ticks(timeout));
        // No callback: reaching the deadline traps (there is nothing to yield
        // to on this thread).
        let _running = self.ticker.running();
        let described = self.handle.block_on(async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        });
        described.map_err(|e| match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => {
                LoadError::Describe(format!("did not return within {} ms (stopped by the host)", timeout.as_millis()))
            }
            _ => {
                let mut msg = format!("{:#}", anyhow::Error::from(e));
                let stderr = String::from_utf8_lossy(&store.data().stderr.peek()).trim().to_owned();
                if !stderr.is_empty() {
                    msg.push_str(&format!("; stderr: {}", super::truncate::truncated(stderr, 2048)));
                }
                // A trap here is most often a returned value of the wrong shape.
                msg.push_str(
                    "; describe() must return the record plugin-info: in JavaScript \
                     `{ name, version, missionTypes }` (camelCase: `mission_types` is not read), in Python \
                     `PluginInfo(name=..., version=..., mission_types=[...])`, in Rust `PluginInfo::from_manifest`",
                );
                LoadError::Describe(msg)
            }
        })
    }
}

/// Epoch ticks in `d` (at least one).
fn ticks(d: Duration) -> u64 {
    (d.as_millis() / TICK.as_millis()).max(1) as u64
}
