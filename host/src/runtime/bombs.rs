//! Components that are cheap to send and costly to compile, for tests (the
//! library's own, and the integration tests, which include this file).

use wasm_encoder::{
    CodeSection, Component, ExportKind, ExportSection, Function, FunctionSection, Instruction, Module, ModuleSection,
    TypeSection, ValType,
};

/// A component holding one core module with one function of `locals` i64
/// locals, `blocks` nested blocks with a conditional branch each, and
/// every local live to the end.
pub fn bomb(locals: u32, blocks: u32) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I64]);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    let mut f = Function::new([(locals, ValType::I64)]);
    for _ in 0..blocks {
        f.instruction(&Instruction::Block(wasm_encoder::BlockType::Empty));
    }
    for b in 0..blocks {
        let l = |k: u32| 1 + (b.wrapping_mul(k) % locals);
        f.instruction(&Instruction::LocalGet(l(7)));
        f.instruction(&Instruction::LocalGet(l(13)));
        f.instruction(&Instruction::I64Add);
        f.instruction(&Instruction::LocalSet(l(1)));
        f.instruction(&Instruction::LocalGet(0));
        f.instruction(&Instruction::BrIf((b % 3).min(blocks - b - 1)));
        f.instruction(&Instruction::End);
    }
    f.instruction(&Instruction::I64Const(0));
    for l in 1..=locals {
        f.instruction(&Instruction::LocalGet(l));
        f.instruction(&Instruction::I64Add);
    }
    f.instruction(&Instruction::End);
    let mut code = CodeSection::new();
    code.function(&f);
    let mut exports = ExportSection::new();
    exports.export("f", ExportKind::Func, 0);
    let mut module = Module::new();
    module.section(&types).section(&funcs).section(&exports).section(&code);
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    component.finish()
}
