//! Host bindings of the `mission-plugin` world, generated from the repository's
//! `wit/` folder (the contract plugins also build against).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "mission-plugin",
    // Exports run on the async path so epoch interruption can yield and a
    // cancelled mission's future can simply be dropped.
    exports: { default: async },
    // `log` and `progress` may trap: a plugin whose manifest makes a budget
    // fatal is stopped at the call that goes over it. `config` and `kv` reach
    // Redis (async) and never trap: every refusal is their `error` variant.
    imports: {
        "mission-runner:plugin/config": async,
        "mission-runner:plugin/kv": async,
        default: trappable,
    },
});

pub use self::mission_runner::plugin::types::{
    LogLevel, Mission as WitMission, MissionError as WitMissionError, PluginInfo as WitPluginInfo,
};
