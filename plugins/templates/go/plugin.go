// {{name}}: a mission-runner plugin (built with Go for wasip1, made a component
// by `mission-runner plugin build`).
//
// Payload {"name": "..."} -> {"message": "hello, <name>"}.
//
// The package name is the one wit-bindgen's Go glue calls: keep it.
package export_wit_world

import (
	_ "embed"
	"encoding/json"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	host "wit_component/mission_runner_plugin_host"
	types "wit_component/mission_runner_plugin_types"
)

// manifest.json, the one source of the name, version and mission types.
//
//go:embed manifest.json
var manifestJSON []byte

// Run is the WIT export `run`: Ok(JSON text) or Err(mission-error).
func Run(m types.Mission) witTypes.Result[string, types.MissionError] {
	var payload struct {
		Name *string `json:"name"`
	}
	if err := json.Unmarshal([]byte(m.Payload), &payload); err != nil {
		// Errors are the WIT variant `mission-error`: permanent or retryable, with a message.
		return witTypes.Err[string](types.MakeMissionErrorPermanent("payload is not JSON: " + err.Error()))
	}
	if payload.Name == nil {
		return witTypes.Err[string](types.MakeMissionErrorPermanent(`payload must be {"name": string}`))
	}
	host.Log(types.LogLevel_Info, "greeting "+*payload.Name)
	host.Progress(100, "done")
	out, err := json.Marshal(map[string]string{"message": "hello, " + *payload.Name})
	if err != nil {
		return witTypes.Err[string](types.MakeMissionErrorPermanent(err.Error()))
	}
	return witTypes.Ok[string, types.MissionError](string(out))
}

// Describe is the WIT export `describe`, read from manifest.json.
func Describe() types.PluginInfo {
	var m struct {
		Name         string   `json:"name"`
		Version      string   `json:"version"`
		MissionTypes []string `json:"mission_types"`
	}
	if err := json.Unmarshal(manifestJSON, &m); err != nil {
		panic("manifest.json: " + err.Error())
	}
	return types.PluginInfo{Name: m.Name, Version: m.Version, MissionTypes: m.MissionTypes}
}
