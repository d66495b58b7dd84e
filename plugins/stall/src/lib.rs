//! `stall`: its `describe()` spins forever (a tight loop that never calls the
//! host), so only an interrupting host can refuse it. A test fixture.

use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, export_plugin};

struct Stall;

impl Guest for Stall {
    fn run(_mission: Mission) -> Result<String, MissionError> {
        Ok("{}".to_owned())
    }

    fn describe() -> PluginInfo {
        let mut x: u64 = 1;
        loop {
            // Opaque to the optimiser, so the loop is not removed.
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            if x == 0 {
                break;
            }
        }
        PluginInfo::new("stall", env!("CARGO_PKG_VERSION"), &["stall"])
    }
}

export_plugin!(Stall);
