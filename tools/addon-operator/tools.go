// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package tools pins addon-operator's command so that `go mod tidy` keeps its dependencies;
// the Makefile builds github.com/flant/addon-operator/cmd/addon-operator from this module.
package tools

import _ "github.com/flant/addon-operator/cmd/addon-operator"
