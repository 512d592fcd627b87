// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package tools pins the control-plane commands the cluster tests build (see the Makefile's
// `kube` target): kube-apiserver, kube-controller-manager and kubectl from k8s.io/kubernetes.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
