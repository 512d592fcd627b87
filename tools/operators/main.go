// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

// Command operator-harness runs this project's hook binaries through shell-operator's and
// addon-operator's own Go packages, so that the real operators — not a model of them — judge
// every hook config, binding context, output file and values patch.
//
// Subcommands (all read and write JSON):
//
//	operator-harness run    < request.json  > results.jsonl   one JSON line per job
//	operator-harness validate < cases.jsonl > errors.jsonl      schema checks, one line each
//	operator-harness values --openapi DIR [--config-values FILE] [--values FILE] [--for-helm]
//	                                                            module values as addon-operator
//	                                                            computes them (schema defaults)
//	operator-harness release --chart DIR VALUES_FILE...         the Helm release Secret addon-operator's
//	                                                            helm3lib would store (size, manifest)
//
// The request and result shapes are documented in README.md beside this file. Nothing here
// reimplements an operator rule where the operator's package can be imported; the one place
// where it must (the raw-context runner for hand-made bad input) says so. The values layers are
// addon-operator's own ValuesStorage (values.go).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: operator-harness run|serve|validate|values|release [flags]")
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCommand(os.Stdin, os.Stdout)
	case "release":
		err = releaseCommand(os.Args[2:], os.Stdout)
	case "serve":
		err = serveCommand(os.Args[2:], os.Stdin, os.Stdout)
	case "validate":
		err = validateCommand(os.Stdin, os.Stdout)
	case "values":
		fs := flag.NewFlagSet("values", flag.ExitOnError)
		openapi := fs.String("openapi", "openapi", "folder with config-values.yaml and values.yaml")
		configValues := fs.String("config-values", "", "JSON file with the module's config values (the ModuleConfig settings); empty: none")
		prior := fs.String("values", "", "JSON file with module values set earlier (hooks' internal values), layered first; empty: none")
		forHelm := fs.Bool("for-helm", false, "also validate as Helm values (x-required-for-helm enforced)")
		_ = fs.Parse(os.Args[2:])
		err = valuesCommand(*openapi, *configValues, *prior, *forHelm, os.Stdout)
	default:
		fail("unknown subcommand " + os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	line, _ := json.Marshal(map[string]string{"level": "error", "msg": msg})
	fmt.Fprintln(os.Stderr, string(line))
	os.Exit(1)
}
