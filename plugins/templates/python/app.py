"""{{name}}: a mission-runner plugin (built with componentize-py).

Payload {"name": "..."} -> {"message": "hello, <name>"}.
"""

import json
import pathlib

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import LogLevel, Mission, MissionError_Permanent, PluginInfo

# Name, version and mission types: manifest.json is their one source. Top-level
# code runs when the component is built, so the file is read then, not at run time.
MANIFEST = json.loads((pathlib.Path(__file__).parent / "manifest.json").read_text())


class WitWorld(wit_world.WitWorld):
    def run(self, mission: Mission) -> str:
        try:
            payload = json.loads(mission.payload)
        except ValueError as e:
            raise Err(MissionError_Permanent(f"payload is not JSON: {e}"))
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str):
            raise Err(MissionError_Permanent('payload must be {"name": string}'))
        host.log(LogLevel.INFO, f"greeting {name}")
        host.progress(100, "done")
        return json.dumps({"message": f"hello, {name}"})

    def describe(self) -> PluginInfo:
        return PluginInfo(
            name=MANIFEST["name"], version=MANIFEST["version"], mission_types=MANIFEST["mission_types"]
        )
