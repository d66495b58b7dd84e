// go-wordcount: a mission-runner plugin in Go. This module is the package
// wit_component/export_wit_world that the generated export glue calls; the
// bindings and their runtime are the SDK's modules in ../sdk/go (generated
// from the WIT by scripts/gen-go-bindings.sh), used through the replaces below.
module wit_component/export_wit_world

go 1.27.1

require (
	go.bytecodealliance.org/pkg v0.4.0
	wit_component/main v0.0.0
	wit_component/mission_runner_plugin_host v0.0.0
	wit_component/mission_runner_plugin_types v0.0.0
)

replace (
	go.bytecodealliance.org/pkg => ../sdk/go/pkg
	wit_component/main => ../sdk/go/main
	wit_component/mission_runner_plugin_host => ../sdk/go/mission_runner_plugin_host
	wit_component/mission_runner_plugin_types => ../sdk/go/mission_runner_plugin_types
)
