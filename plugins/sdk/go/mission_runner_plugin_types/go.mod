module wit_component/mission_runner_plugin_types

go 1.27.1
