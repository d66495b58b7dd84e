//! A static look at a component before it is compiled: compiling is the one
//! step the host cannot interrupt, and its cost grows much faster than the
//! component's size (a function of thousands of locals and nested blocks
//! takes Cranelift tens of seconds and gigabytes). Counting locals, bodies and
//! functions takes milliseconds, so such a component is refused before any
//! compile starts. The caps sit far above what real plugins need (the largest
//! here, the CPython and SpiderMonkey builds of `py-greet` and `js-sum`, use
//! a few percent of them).

use wasmparser::{Parser, Payload};

/// Most locals one function may declare (wasmparser's own cap is 50,000).
pub const MAX_FUNCTION_LOCALS: u64 = 10_000;
/// Largest function body, in bytes.
pub const MAX_FUNCTION_BYTES: usize = 2 << 20;
/// Most functions in all the component's modules together.
pub const MAX_FUNCTIONS: u64 = 200_000;
/// Most `locals × branch points` of one function (blocks, loops, ifs and
/// branches): what makes Cranelift's work explode is both at once, since every
/// local live across a join becomes a block parameter there. A function of
/// 1,000 locals and 1,000 branching blocks (20 KB) took more than 12 minutes
/// and 13 GB to compile; the largest real plugin here scores a few hundred thousand.
pub const MAX_FUNCTION_COST: u64 = 1_500_000;
/// Most `locals × branch points` of all functions together: many functions
/// each under the cap above add up (and compile on every core at once).
pub const MAX_TOTAL_COST: u64 = 30_000_000;

/// Why a component is refused before compiling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrecheckError {
    /// Not parseable as WebAssembly.
    #[error("cannot be parsed: {0}")]
    Malformed(String),
    /// Over one of the caps.
    #[error("too costly to compile: {0}")]
    TooCostly(String),
}

/// What the check saw (for tests and tuning).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Functions with bodies.
    pub functions: u64,
    /// The most locals of one function.
    pub max_locals: u64,
    /// The largest body.
    pub max_body_bytes: usize,
    /// The largest `locals × branch points`.
    pub max_cost: u64,
    /// The sum of `locals × branch points` over all functions.
    pub total_cost: u64,
}

/// Walks every module of the component (nested ones too) and checks each
/// function body against the caps.
pub fn precheck(wasm: &[u8]) -> Result<Shape, PrecheckError> {
    let malformed = |e: wasmparser::BinaryReaderError| PrecheckError::Malformed(e.to_string());
    let mut shape = Shape::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let Payload::CodeSectionEntry(body) = payload.map_err(malformed)? else { continue };
        shape.functions += 1;
        if shape.functions > MAX_FUNCTIONS {
            return Err(PrecheckError::TooCostly(format!("more than {MAX_FUNCTIONS} functions")));
        }
        let bytes = body.range().len();
        if bytes > MAX_FUNCTION_BYTES {
            return Err(PrecheckError::TooCostly(format!(
                "a function body of {bytes} bytes (at most {MAX_FUNCTION_BYTES})"
            )));
        }
        let mut locals: u64 = 0;
        for group in body.get_locals_reader().map_err(malformed)? {
            locals += u64::from(group.map_err(malformed)?.0);
            if locals > MAX_FUNCTION_LOCALS {
                return Err(PrecheckError::TooCostly(format!(
                    "a function with more than {MAX_FUNCTION_LOCALS} locals"
                )));
            }
        }
        let mut branches: u64 = 0;
        let mut ops = body.get_operators_reader().map_err(malformed)?;
        while !ops.eof() {
            use wasmparser::Operator as O;
            if let O::Block { .. } | O::Loop { .. } | O::If { .. } | O::Br { .. } | O::BrIf { .. } | O::BrTable { .. } =
                ops.read().map_err(malformed)?
            {
                branches += 1;
            }
        }
        let cost = locals * branches;
        if cost > MAX_FUNCTION_COST {
            return Err(PrecheckError::TooCostly(format!(
                "a function of {locals} locals and {branches} branch points \
                 (locals × branch points at most {MAX_FUNCTION_COST})"
            )));
        }
        shape.max_locals = shape.max_locals.max(locals);
        shape.max_body_bytes = shape.max_body_bytes.max(bytes);
        shape.max_cost = shape.max_cost.max(cost);
        shape.total_cost += cost;
        if shape.total_cost > MAX_TOTAL_COST {
            return Err(PrecheckError::TooCostly(format!(
                "functions whose locals × branch points add up to more than {MAX_TOTAL_COST}"
            )));
        }
    }
    Ok(shape)
}

#[cfg(test)]
#[path = "bombs.rs"]
pub(crate) mod bombs;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_plugins_pass_with_room_to_spare() {
        let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
        for name in ["echo", "chaos", "text-stats", "py-greet", "js-sum"] {
            let Ok(wasm) = std::fs::read(dist.join(format!("{name}.wasm"))) else { continue };
            let shape = precheck(&wasm).unwrap_or_else(|e| panic!("{name}: {e}"));
            println!("{name}: {shape:?}");
            assert!(shape.max_locals * 4 <= MAX_FUNCTION_LOCALS, "{name}: {shape:?}");
            assert!(shape.max_cost * 3 <= MAX_FUNCTION_COST, "{name}: {shape:?}");
            assert!(shape.total_cost * 4 <= MAX_TOTAL_COST, "{name}: {shape:?}");
        }
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(precheck(b"not wasm at all"), Err(PrecheckError::Malformed(_))));
    }

    #[test]
    fn a_compile_bomb_is_refused_in_milliseconds() {
        let wasm = bombs::bomb(1_000, 1_000);
        let started = std::time::Instant::now();
        let refused = precheck(&wasm);
        assert!(matches!(&refused, Err(PrecheckError::TooCostly(m)) if m.contains("branch points")), "{refused:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(precheck(&bombs::bomb(300, 300)).is_ok(), "a small one passes (and compiles in well under a second)");
    }
}

#[cfg(test)]
mod calibration {
    use super::bombs::bomb;

    /// How the caps were chosen: on this project's machine, 300, 600 and 800
    /// square compiled in 0.2, 2.4 and 5.6 s; 1,000 square ran 12 minutes into
    /// 13 GB before it was killed. `BOMBS=300x300,600x600 cargo test --lib calibrate -- --ignored --nocapture`
    #[test]
    #[ignore = "calibration: prints compile times"]
    fn calibrate() {
        let engine = wasmtime::Engine::default();
        let list = std::env::var("BOMBS").unwrap_or_else(|_| "100x100,300x300".into());
        for (locals, blocks) in list.split(',').filter_map(|c| c.split_once('x')) {
            let (locals, blocks) = (locals.parse().expect("locals"), blocks.parse().expect("blocks"));
            let wasm = bomb(locals, blocks);
            let shape = super::precheck(&wasm);
            let t = std::time::Instant::now();
            let ok = wasmtime::component::Component::new(&engine, &wasm).map(|_| ()).map_err(|e| e.to_string());
            println!(
                "{locals} locals {blocks} blocks: {} bytes, {shape:?}, compile {:?} {ok:?}",
                wasm.len(),
                t.elapsed()
            );
        }
    }
}
