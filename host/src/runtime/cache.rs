//! The on-disk compile cache: compiled components keyed by the component's
//! digest and the engine's compatibility hash, so a restarted host loads its
//! plugins without compiling. An entry that does not load is a miss.
//!
//! Only validated components are stored ([`super::load`] stores after
//! `describe()` and the manifest pass): a refused upload leaves nothing here.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Counters of the cache, shown by `/api/health`.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Components compiled (cache misses, or no cache).
    pub compiled: AtomicU64,
    /// Components loaded from the cache.
    pub hits: AtomicU64,
}

/// A directory of precompiled components for one engine configuration.
#[derive(Debug)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    pub(crate) stats: CacheStats,
}

impl CompileCache {
    /// A cache under `root` (none if `None`), in a subdirectory for this
    /// engine's compatibility hash: another wasmtime or configuration never
    /// sees these entries.
    pub fn new(engine: &Engine, root: Option<&Path>) -> Self {
        let dir = root.map(|r| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            r.join(format!("{:016x}", h.finish()))
        });
        CompileCache { dir, stats: CacheStats::default() }
    }

    fn entry(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.as_ref().map(|d| d.join(format!("{hex}.cwasm")))
    }

    /// The cached component of `digest`, if there is one that loads.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.entry(digest).filter(|p| p.is_file())?;
        match load(engine, &path) {
            Ok(c) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                Some(c)
            }
            Err(e) => {
                tracing::info!(path = %path.display(), error = %e, "compile cache entry does not load; recompiling");
                None
            }
        }
    }

    /// Compiles `wasm` (the caller stores it once it is validated).
    pub fn compile(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
        let component = Component::new(engine, wasm)?;
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        Ok(component)
    }

    /// Stores a validated component; a failure only costs a later compile.
    pub fn store(&self, digest: &str, component: &Component) {
        if let Some(path) = self.entry(digest)
            && let Err(e) = store(component, &path)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not write the compile cache");
        }
    }
}

/// Loads a precompiled component written by [`store`]. The file is read into
/// memory first: a mapped file that someone truncates kills the process.
#[allow(unsafe_code)]
fn load(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    let bytes = std::fs::read(path)?;
    // SAFETY: `deserialize` trusts the bytes to be wasmtime's own output.
    // Entries are written only by `store` below, into the host's own cache
    // directory, atomically (temporary file + rename), under a subdirectory
    // keyed by this engine's compatibility hash; wasmtime still checks the
    // version and configuration header and refuses a mismatch.
    unsafe { Component::deserialize(engine, bytes) }
}

/// Writes a compiled component atomically.
fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let dir = path.parent().ok_or_else(|| anyhow::anyhow!("cache entry without a directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
