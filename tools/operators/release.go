// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

package main

// The Helm release a module's chart becomes, the way addon-operator's helm3lib client makes it.
//
// addon-operator (pkg/helm/helm3lib/helm3lib.go, upgradeRelease) loads the module folder with
// Helm's loader.Load when it has a Chart.yaml (which honours .helmignore), coalesces the values
// files with chartutil.CoalesceTables and runs action.Install (SkipCRDs) on the first release.
// Helm's default storage driver keeps every release revision in a Secret
// (`sh.helm.release.v1.<name>.v<revision>`, data "release" = base64(gzip(JSON))), which the
// Kubernetes API stores only up to 1 MiB. This command does exactly those calls with the Secrets
// driver on client-go's fake clientset and a kube client that applies nothing, then reports the
// stored Secret's size and the rendered manifest:
//
//	operator-harness release --chart DIR [--namespace NS] [--name NAME] VALUES_FILE...
//	  → {"secret": "sh.helm.release.v1.flant-integration.v1", "bytes": N, "manifest": "…"}

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func releaseCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("release", flag.ExitOnError)
	chartDir := fs.String("chart", ".", "the module folder (with Chart.yaml and .helmignore)")
	namespace := fs.String("namespace", "d8-system", "the release namespace (addon-operator's)")
	name := fs.String("name", "flant-integration", "the release name (the module name)")
	_ = fs.Parse(args)

	var values chartutil.Values
	for _, p := range fs.Args() {
		v, err := chartutil.ReadValuesFile(p)
		if err != nil {
			return err
		}
		values = chartutil.CoalesceTables(values, v)
	}
	chart, err := loader.Load(*chartDir)
	if err != nil {
		return fmt.Errorf("helm cannot load the chart: %w", err)
	}

	clientset := fake.NewSimpleClientset()
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewSecrets(clientset.CoreV1().Secrets(*namespace))),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...interface{}) {},
	}
	install := action.NewInstall(cfg)
	install.Namespace = *namespace
	install.ReleaseName = *name
	install.UseReleaseName = true
	install.SkipCRDs = true
	rel, err := install.Run(chart, values)
	if err != nil {
		return fmt.Errorf("helm install: %w", err)
	}

	secrets, err := clientset.CoreV1().Secrets(*namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(secrets.Items) != 1 {
		return fmt.Errorf("expected one release Secret, Helm stored %d", len(secrets.Items))
	}
	s := secrets.Items[0]
	size := 0
	for _, v := range s.Data {
		size += len(v)
	}
	return json.NewEncoder(out).Encode(map[string]any{"secret": s.Name, "bytes": size, "manifest": rel.Manifest})
}
