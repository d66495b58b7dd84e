module wit_component/mission_runner_plugin_host

go 1.27.1
