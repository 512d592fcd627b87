module github.com/flant-integration-rs/tools/markdownlint

go 1.26

tool github.com/ldmonster/go-markdownlint/cmd/markdownlint

require (
	github.com/BurntSushi/toml v1.4.0 // indirect
	github.com/ldmonster/go-markdownlint v0.0.2 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
