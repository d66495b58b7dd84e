//! Host bindings of the `mission-plugin` world, generated from the repository's
//! `wit/` folder (the contract plugins also build against).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "mission-plugin",
    // Exports run on the async path so epoch interruption can yield and a
    // cancelled mission's future can simply be dropped.
    exports: { default: async },
});

pub use self::mission_runner::plugin::types::{LogLevel, Mission as WitMission, MissionError as WitMissionError};
