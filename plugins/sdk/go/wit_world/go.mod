module wit_component/wit_world

go 1.27.1
