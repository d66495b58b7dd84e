//! The WIT a Python plugin is built against when its manifest grants
//! outbound HTTP: the repository's `wit/` (with the vendored WASI 0.2.12
//! packages in `wit/deps/`, the version the host implements) plus one world
//! that adds `wasi:http/outgoing-handler` to `mission-plugin`.
//!
//! componentize-py makes a component import every interface of its world, so
//! a plugin without the grant is built against `mission-plugin` itself (the
//! host refuses a component importing wasi:http without `grants.http`).

use std::path::{Path, PathBuf};

use super::client::Failure;

/// The world name of plugins granted outbound HTTP.
pub const HTTP_WORLD: &str = "mission-plugin-http";

/// The extra world, in the `mission-runner:plugin` package (no package line:
/// it takes the one of the other files of the folder).
const HTTP_WORLD_WIT: &str = "// Written by `mission-runner plugin build` for a manifest with `grants.http`.
world mission-plugin-http {
    include mission-plugin;
    import wasi:http/outgoing-handler@0.2.12;
}
";

/// A copy of `wit` in `dist/.wit-http` with the extra world; its path.
pub fn with_http(wit: &Path, dist: &Path) -> Result<PathBuf, Failure> {
    let out = dist.join(".wit-http");
    let fail = |what: &str, e: std::io::Error| Failure::input(format!("preparing the WIT with wasi:http: {what}: {e}"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(out.join("deps")).map_err(|e| fail("creating the folder", e))?;
    for (from, to) in [(wit.to_owned(), out.clone()), (wit.join("deps"), out.join("deps"))] {
        for entry in std::fs::read_dir(&from).map_err(|e| fail("reading wit/", e))? {
            let path = entry.map_err(|e| fail("reading wit/", e))?.path();
            if path.extension().is_some_and(|x| x == "wit") {
                let name = path.file_name().unwrap_or_default();
                std::fs::copy(&path, to.join(name)).map_err(|e| fail("copying", e))?;
            }
        }
    }
    std::fs::write(out.join("zz-mission-plugin-http.wit"), HTTP_WORLD_WIT).map_err(|e| fail("writing", e))?;
    Ok(out)
}
