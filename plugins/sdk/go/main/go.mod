module wit_component/main

go 1.27.1
