// go-wordcount: counts the words of a text (the Go example plugin).
//
// Payload {"text": "..."} -> {"words": N, "distinct": N, "top": "most frequent word"}.
// Empty or missing text is a permanent error; {"text": "...", "retry": true}
// fails retryably on the first attempt (to show the other error form).
//
// The package name is the one wit-bindgen's Go glue calls: keep it.
package export_wit_world

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	host "wit_component/mission_runner_plugin_host"
	types "wit_component/mission_runner_plugin_types"
)

//go:embed manifest.json
var manifestJSON []byte

type payload struct {
	Text  *string `json:"text"`
	Retry bool    `json:"retry"`
}

type count struct {
	Words    int    `json:"words"`
	Distinct int    `json:"distinct"`
	Top      string `json:"top"`
}

func fail(message string) witTypes.Result[string, types.MissionError] {
	return witTypes.Err[string](types.MakeMissionErrorPermanent(message))
}

// Run is the WIT export `run`.
func Run(m types.Mission) witTypes.Result[string, types.MissionError] {
	var p payload
	if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
		return fail("payload is not JSON: " + err.Error())
	}
	if p.Text == nil || strings.TrimSpace(*p.Text) == "" {
		return fail(`payload must be {"text": non-empty string}`)
	}
	if p.Retry && m.Attempt == 1 {
		return witTypes.Err[string](types.MakeMissionErrorRetryable("asked to retry once"))
	}
	words := strings.Fields(*p.Text)
	host.Log(types.LogLevel_Info, fmt.Sprintf("counting %d words", len(words)))
	seen := map[string]int{}
	c := count{Words: len(words)}
	for i, w := range words {
		w = strings.ToLower(strings.Trim(w, ".,;:!?\"'()"))
		seen[w]++
		if seen[w] > seen[c.Top] || (seen[w] == seen[c.Top] && w < c.Top) {
			c.Top = w
		}
		if (i+1)%1000 == 0 {
			host.Progress(uint8(100*(i+1)/len(words)), "counting")
		}
	}
	c.Distinct = len(seen)
	host.Progress(100, "done")
	out, err := json.Marshal(c)
	if err != nil {
		return fail(err.Error())
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
