module wit_component/mission_runner_plugin_kv

go 1.27.1
