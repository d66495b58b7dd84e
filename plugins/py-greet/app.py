"""py-greet: the mission-plugin world in Python (built with componentize-py).

Payload {"name": "..."} -> {"greeting": "Hello, <name>!", "length": n}.
A missing or empty name is a permanent error.
"""

import json
import pathlib

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import LogLevel, Mission, MissionError_Permanent, PluginInfo

# Name, version and mission types: manifest.json is their one source (read when
# the component is built: top-level code runs then).
MANIFEST = json.loads((pathlib.Path(__file__).parent / "manifest.json").read_text())


class WitWorld(wit_world.WitWorld):
    def run(self, mission: Mission) -> str:
        try:
            payload = json.loads(mission.payload)
        except ValueError as e:
            raise Err(MissionError_Permanent(f"payload is not JSON: {e}"))
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name:
            raise Err(MissionError_Permanent('payload must be {"name": non-empty string}'))
        greeting = f"Hello, {name}!"
        host.log(LogLevel.INFO, f"greeting {name} on attempt {mission.attempt}")
        host.progress(100, "greeted")
        return json.dumps({"greeting": greeting, "length": len(greeting)})

    def describe(self) -> PluginInfo:
        return PluginInfo(
            name=MANIFEST["name"], version=MANIFEST["version"], mission_types=MANIFEST["mission_types"]
        )
