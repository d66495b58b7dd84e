//! The world a Python or JavaScript plugin is built against, shaped by its
//! manifest's grants. componentize-py and componentize-js keep every import
//! of the world in the component, used or not (a guest in those languages
//! can reach any of them at run time), and the host refuses a component
//! importing what its manifest does not grant. So `plugin build` writes a copy
//! of `wit/` whose world imports only what is granted. (Rust needs none:
//! wit-bindgen's component keeps only the imports the code calls.)
//!
//! One table, grant -> import line of the world: a new capability is one row.

use std::path::{Path, PathBuf};

use crate::model::manifest::Grants;

/// A world import that only a grant allows.
#[derive(Debug)]
pub struct GrantedImport {
    /// The manifest entry that grants it.
    pub grant: &'static str,
    /// Its line in `wit/mission-plugin.wit`'s world, trimmed.
    pub line: &'static str,
    /// Whether `grants` grants it.
    pub granted: fn(&Grants) -> bool,
}

/// Every world import a grant allows.
pub const GRANTED_IMPORTS: &[GrantedImport] = &[
    GrantedImport { grant: "grants.config", line: "import config;", granted: |g| !g.config.is_empty() },
    GrantedImport { grant: "grants.kv", line: "import kv;", granted: |g| g.kv.is_some() },
];

/// The grants `grants` lacks, whose imports a shaped world leaves out.
pub fn left_out(grants: &Grants) -> Vec<&'static str> {
    GRANTED_IMPORTS.iter().filter(|g| !(g.granted)(grants)).map(|g| g.grant).collect()
}

/// `wit` (the contract's text) without the world's import lines `grants` does
/// not allow, each with the `@since` gate just above it.
pub fn shape(wit: &str, grants: &Grants) -> String {
    let dropped: Vec<&str> = GRANTED_IMPORTS.iter().filter(|g| !(g.granted)(grants)).map(|g| g.line).collect();
    let lines: Vec<&str> = wit.lines().collect();
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    for line in lines {
        if dropped.contains(&line.trim()) {
            if out.last().is_some_and(|l| l.trim_start().starts_with("@since")) {
                out.pop();
            }
            continue;
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

/// Writes the shaped copy of every `.wit` file of `wit_dir` into `out` (made
/// fresh); returns `out`.
pub fn write_shaped(wit_dir: &Path, grants: &Grants, out: &Path) -> std::io::Result<PathBuf> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(out)?;
    for entry in std::fs::read_dir(wit_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wit")
            && let Some(file) = path.file_name()
        {
            let text = std::fs::read_to_string(&path)?;
            std::fs::write(out.join(file), shape(&text, grants))?;
        }
    }
    // The vendored WASI packages, unchanged (a world granted HTTP imports from them).
    let deps = wit_dir.join("deps");
    if deps.is_dir() {
        std::fs::create_dir_all(out.join("deps"))?;
        for entry in std::fs::read_dir(&deps)? {
            let path = entry?.path();
            if let Some(file) = path.file_name().filter(|_| path.is_file()) {
                std::fs::copy(&path, out.join("deps").join(file))?;
            }
        }
    }
    Ok(out.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_imports_only_what_is_granted() {
        let wit = include_str!("../../../wit/mission-plugin.wit");
        let none = shape(wit, &Grants::default());
        assert!(!none.contains("import config;") && !none.contains("import kv;"), "{none}");
        assert!(none.contains("import host;") && none.contains("interface kv {"));
        let kv = shape(wit, &Grants { kv: Some(Default::default()), ..Default::default() });
        assert!(kv.contains("import kv;") && !kv.contains("import config;"));
        for line in GRANTED_IMPORTS.iter().map(|g| g.line) {
            assert!(wit.lines().any(|l| l.trim() == line), "the world has no `{line}`");
        }
    }
}
