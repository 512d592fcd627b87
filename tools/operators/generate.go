// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

package main

// Binding contexts from Kubernetes objects, made by shell-operator's own generator
// (test/hook/context: a fake cluster, the real kube events manager, jq filters and snapshots,
// the real context combiner), and the hand-made-context runner for bad input.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/deckhouse/deckhouse/pkg/log"
	"github.com/flant/addon-operator/pkg/module_manager/models/hooks/kind"
	"github.com/flant/addon-operator/pkg/utils"
	"github.com/flant/shell-operator/pkg/executor"
	shhook "github.com/flant/shell-operator/pkg/hook"
	bctx "github.com/flant/shell-operator/pkg/hook/binding_context"
	"github.com/flant/shell-operator/pkg/hook/config"
	htypes "github.com/flant/shell-operator/pkg/hook/types"
	objectpatch "github.com/flant/shell-operator/pkg/kube/object_patch"
	gen "github.com/flant/shell-operator/test/hook/context"
)

// crds are the custom resources the hooks watch, registered in the fake cluster:
// group, version, kind, namespaced.
var crds = []struct {
	group, version, kind string
	namespaced           bool
}{
	{"deckhouse.io", "v1", "NodeGroup", false},
	{"deckhouse.io", "v1", "IngressNginxController", false},
}

func generatedContexts(j job, cfg *config.HookConfig, sh *kind.ShellHook) (*gen.GeneratedBindingContexts, caseSpec, error) {
	spec, err := readCaseSpec(j.CaseDir)
	if err != nil {
		return nil, spec, err
	}
	objects, err := os.ReadFile(filepath.Join(j.CaseDir, "objects.yaml"))
	hasObjects := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, spec, err
	}
	if !hasObjects && spec.Run == "" {
		return nil, spec, nil // hand-made
	}
	if spec.Run == "onStartup" {
		// shell-operator's bootstrapMainQueue: an onStartup context carries no snapshots.
		bc := bctx.BindingContext{Binding: string(htypes.OnStartup)}
		bc.Metadata.BindingType = htypes.OnStartup
		g, err := gen.ConvertToGeneratedBindingContexts([]bctx.BindingContext{bc})
		return &g, spec, err
	}

	logger := log.NewLogger(log.WithOutput(&discard{}), log.WithLevel(slog.LevelError))
	c := gen.NewBindingContextController("", logger)
	hook := shhook.NewHook(filepath.Base(j.Binary), j.Binary, false, false, "", logger)
	if sh != nil {
		hook = &sh.Hook
	}
	hook.Config = cfg
	hook.RateLimiter = shhook.CreateRateLimiter(cfg)
	c.WithHook(hook)
	for _, crd := range crds {
		c.RegisterCRD(crd.group, crd.version, crd.kind, crd.namespaced)
	}
	defer c.Stop()

	sync, err := c.Run(string(objects))
	if err != nil {
		return nil, spec, fmt.Errorf("generator: %w", err)
	}
	var g gen.GeneratedBindingContexts
	switch spec.Run {
	case "", "synchronization":
		g = sync
	case "event":
		after, err := os.ReadFile(filepath.Join(j.CaseDir, spec.Then))
		if err != nil {
			return nil, spec, fmt.Errorf("case.yaml then: %w", err)
		}
		g, err = c.ChangeState(string(after))
		if err != nil {
			return nil, spec, fmt.Errorf("generator: %w", err)
		}
	case "schedule":
		crontab := spec.Crontab
		if crontab == "" && len(cfg.Schedules) > 0 {
			crontab = cfg.Schedules[0].ScheduleEntry.Crontab
		}
		g, err = c.RunSchedule(context.Background(), crontab)
		if err != nil {
			return nil, spec, fmt.Errorf("generator: %w", err)
		}
	case "beforeHelm", "afterHelm":
		// addon-operator's RunHooksByBinding: every snapshot of the hook, includeAllSnapshots.
		g, err = c.RunBindingWithAllSnapshots(htypes.BindingType(spec.Run))
		if err != nil {
			return nil, spec, fmt.Errorf("generator: %w", err)
		}
	default:
		return nil, spec, fmt.Errorf("case.yaml: unknown run %q", spec.Run)
	}
	if len(g.BindingContexts) == 0 {
		return nil, spec, errors.New("the generator made no binding context for this case (the hook would not run)")
	}
	return &g, spec, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// rawRun executes a hook on a hand-made binding context: the operators' executor runs the
// binary with the operators' file variables, and every output is read by the operators' parsers.
// (Their Run/Execute take typed contexts and cannot carry deliberately malformed JSON.)
func rawRun(run *runResult, j job, dir string, sh *kind.ShellHook, configValues, values utils.Values, schemas *moduleSchemas, logger *log.Logger) {
	files := map[string]string{
		"BINDING_CONTEXT_PATH":  filepath.Join(dir, "binding-context.json"),
		"METRICS_PATH":          filepath.Join(dir, "metrics.json"),
		"KUBERNETES_PATCH_PATH": filepath.Join(dir, "kubernetes-patch.json"),
	}
	if sh != nil {
		files["VALUES_PATH"] = filepath.Join(dir, "values.json")
		files["CONFIG_VALUES_PATH"] = filepath.Join(dir, "config-values.json")
		files["VALUES_JSON_PATCH_PATH"] = filepath.Join(dir, "values-json-patch.json")
		files["CONFIG_VALUES_JSON_PATCH_PATH"] = filepath.Join(dir, "config-values-json-patch.json")
	}
	data, err := os.ReadFile(filepath.Join(j.CaseDir, "binding_context.json"))
	if err != nil {
		run.Error = err.Error()
		return
	}
	write := func(name string, content []byte) {
		if err == nil {
			err = os.WriteFile(files[name], content, 0o644)
		}
	}
	write("BINDING_CONTEXT_PATH", data)
	write("METRICS_PATH", nil)
	write("KUBERNETES_PATCH_PATH", nil)
	if sh != nil {
		v, _ := json.Marshal(values)
		cv, _ := json.Marshal(configValues)
		write("VALUES_PATH", v)
		write("CONFIG_VALUES_PATH", cv)
		write("VALUES_JSON_PATCH_PATH", nil)
		write("CONFIG_VALUES_JSON_PATCH_PATH", nil)
	}
	if err != nil {
		run.Error = err.Error()
		return
	}
	envs := os.Environ()
	for k, v := range files {
		envs = append(envs, k+"="+v)
	}
	cmd := executor.NewExecutor("", j.Binary, []string{}, envs).WithLogger(logger.Named("executor"))
	if sh != nil {
		cmd = cmd.WithChroot(utils.GetModuleChrootPath(moduleName))
	}
	_, err = cmd.RunAndLogLines(context.Background(), map[string]string{})
	run.Error = errorText(err)
	run.Stderr = stderrOf(err)
	failed := err != nil
	defer collectRaw(run, files, failed)
	if failed {
		return
	}
	ops, err := shhook.MetricOperationsFromFile(files["METRICS_PATH"], filepath.Base(j.Binary))
	if err != nil {
		run.Error = "metrics rejected: " + err.Error()
		return
	}
	run.Metrics = metricsJSON(ops)
	kubeBytes, _ := os.ReadFile(files["KUBERNETES_PATCH_PATH"])
	kops, err := objectpatch.ParseOperations(kubeBytes)
	if err != nil {
		run.Error = "kubernetes operations rejected: " + err.Error()
		return
	}
	for _, op := range kops {
		run.KubernetesOperations = append(run.KubernetesOperations, op.Description())
	}
	if sh != nil {
		patch, err := utils.ValuesPatchFromFile(files["VALUES_JSON_PATCH_PATH"])
		if err != nil {
			run.Error = "values patch rejected: " + err.Error()
			return
		}
		cfgPatch, err := utils.ValuesPatchFromFile(files["CONFIG_VALUES_JSON_PATCH_PATH"])
		if err != nil {
			run.Error = "config values patch rejected: " + err.Error()
			return
		}
		recordValues(run, schemas, values, patch, cfgPatch)
	}
}

func collectRaw(run *runResult, files map[string]string, failed bool) {
	if !failed {
		return
	}
	for _, name := range []string{"METRICS_PATH", "KUBERNETES_PATCH_PATH", "VALUES_JSON_PATCH_PATH", "CONFIG_VALUES_JSON_PATCH_PATH"} {
		if p, ok := files[name]; ok {
			if info, err := os.Stat(p); err == nil && info.Size() > 0 {
				run.LeftFiles = append(run.LeftFiles, name)
			}
		}
	}
}
