module wit_component/mission_runner_plugin_config

go 1.27.1
