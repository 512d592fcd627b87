// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package tools pins etcd for the cluster tests: the main package of go.etcd.io/etcd/server/v3 is
// the module root. A module of its own so that etcd keeps its own dependency versions, apart from
// k8s.io/kubernetes's (which requires an older etcd server as a library).
package tools

import _ "go.etcd.io/etcd/server/v3"
