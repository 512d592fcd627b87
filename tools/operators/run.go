// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

package main

// The run subcommand: every job is one hook × one fixture case, executed through the operator
// that runs the hook in production.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/deckhouse/deckhouse/pkg/log"
	metricsstorage "github.com/deckhouse/deckhouse/pkg/metrics-storage"
	"github.com/deckhouse/deckhouse/pkg/metrics-storage/operation"
	"github.com/flant/addon-operator/pkg/app"
	"github.com/flant/addon-operator/pkg/module_manager/models/hooks/kind"
	"github.com/flant/addon-operator/pkg/utils"
	"github.com/flant/shell-operator/pkg/executor"
	shhook "github.com/flant/shell-operator/pkg/hook"
	"github.com/flant/shell-operator/pkg/hook/config"
	htypes "github.com/flant/shell-operator/pkg/hook/types"
	objectpatch "github.com/flant/shell-operator/pkg/kube/object_patch"
	"sigs.k8s.io/yaml"
)

// request is what `run` reads from stdin.
type request struct {
	// ModuleDir is the module root: openapi/ is read from it.
	ModuleDir string `json:"module_dir"`
	// Chroot, when set, becomes addon-operator's ADDON_OPERATOR_SHELL_CHROOT_DIR: module hooks
	// are executed chrooted in <Chroot>/flant-integration, as in Deckhouse.
	Chroot string `json:"chroot,omitempty"`
	// TmpDir is where the operators put the hooks' files (inside the chroot when one is set).
	TmpDir string `json:"tmp_dir"`
	Jobs   []job  `json:"jobs"`
}

type job struct {
	ID string `json:"id"`
	// Operator is "shell" (shell-operator, pricing pod) or "addon" (addon-operator, Deckhouse).
	Operator string `json:"operator"`
	Binary   string `json:"binary"`
	// CaseDir holds the fixture; empty: only the config is checked.
	CaseDir string `json:"case_dir,omitempty"`
	// Update writes binding_context.json from objects.yaml instead of comparing.
	Update bool `json:"update,omitempty"`
	// Env is set for this job only; a null value unsets the variable.
	Env map[string]*string `json:"env,omitempty"`
}

// result is one line of `run`'s output.
type result struct {
	ID string `json:"id"`
	// Config is the hook config as the operator loaded it, or its error.
	Config      json.RawMessage `json:"config,omitempty"`
	ConfigError string          `json:"config_error,omitempty"`
	// BatchProbe says how addon-operator's module loader classified the file.
	BatchProbe string `json:"batch_probe,omitempty"`
	// Context: "generated" (from objects.yaml by shell-operator's generator) or "hand-made".
	Context         string          `json:"context,omitempty"`
	ContextMismatch string          `json:"context_mismatch,omitempty"`
	ContextError    string          `json:"context_error,omitempty"`
	BindingContext  json.RawMessage `json:"binding_context,omitempty"`
	ValuesError     string          `json:"values_error,omitempty"`
	Run             *runResult      `json:"run,omitempty"`
	HarnessError    string          `json:"harness_error,omitempty"`
}

type runResult struct {
	// Error is the operator's error for a failed run ("" on success).
	Error string `json:"error,omitempty"`
	// Stderr is the hook's raw stderr when the run failed (the operator's StderrError).
	Stderr string `json:"stderr,omitempty"`
	// Log holds the lines the operator logged from the hook's output.
	Log []map[string]any `json:"log"`
	// Metrics are the metric operations as the operator parsed them.
	Metrics json.RawMessage `json:"metrics"`
	// KubernetesOperations are the operator's descriptions of the parsed object patch operations.
	KubernetesOperations []string `json:"kubernetes_operations"`
	// KubernetesOperationsSpec is the object patch file parsed by the operator's YAML/JSON reader.
	KubernetesOperationsSpec json.RawMessage `json:"kubernetes_operations_spec,omitempty"`
	// ValuesPatch / ConfigValuesPatch as parsed by addon-operator.
	ValuesPatch       json.RawMessage `json:"values_patch,omitempty"`
	ConfigValuesPatch json.RawMessage `json:"config_values_patch,omitempty"`
	// ValuesIn / ConfigValuesIn are what the hook received in $VALUES_PATH / $CONFIG_VALUES_PATH.
	ValuesIn       json.RawMessage `json:"values_in,omitempty"`
	ConfigValuesIn json.RawMessage `json:"config_values_in,omitempty"`
	// ValuesOut is the module values after addon-operator applied and validated the patch.
	ValuesOut      json.RawMessage `json:"values_out,omitempty"`
	ValuesChanged  bool            `json:"values_changed,omitempty"`
	ValuesOutError string          `json:"values_out_error,omitempty"`
	// Exposition is /metrics/hooks of shell-operator's hook metric storage after this run
	// (pricing hooks): the operations applied by metrics-storage, served by promhttp.
	Exposition string `json:"exposition,omitempty"`
	// LeftFiles lists output files that were not empty after a failed run (must be none).
	LeftFiles []string `json:"left_files,omitempty"`
}

func runCommand(in io.Reader, out io.Writer) error {
	var req request
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if req.TmpDir == "" {
		return errors.New("request: tmp_dir is required")
	}
	// Keep the output files so that a failed run can be checked for half-written outputs;
	// the harness removes them itself.
	app.DebugKeepTmpFiles = true
	app.ShellChrootDir = req.Chroot
	schemas, err := loadSchemas(filepath.Join(req.ModuleDir, "openapi"))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, j := range req.Jobs {
		r := runJob(req, schemas, j)
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

func runJob(req request, schemas *moduleSchemas, j job) (r result) {
	r.ID = j.ID
	restore := setEnv(j.Env)
	defer restore()
	jobTmp, err := os.MkdirTemp(req.TmpDir, "job-")
	if err != nil {
		r.HarnessError = err.Error()
		return r
	}
	defer os.RemoveAll(jobTmp)

	logs := &bytes.Buffer{}
	logger := log.NewLogger(log.WithOutput(logs), log.WithLevel(slog.LevelDebug))

	var cfg *config.HookConfig
	var sh *kind.ShellHook
	var plain *shhook.Hook
	switch j.Operator {
	case "addon":
		sh = kind.NewShellHook(filepath.Base(j.Binary), j.Binary, moduleName, true, app.LogProxyHookJSON, logger)
		sh.WithTmpDir(jobTmp)
		// The module loader's probe: a file that answers `hook config` is taken as a batch hook.
		if _, err := kind.GetBatchHookConfig(moduleName, j.Binary); err != nil {
			r.BatchProbe = "shell hook (hook config: " + firstLine(err.Error()) + ")"
		} else {
			r.BatchProbe = "batch hook"
		}
		cfg, err = sh.GetConfigForModule("embedded")
		if err == nil {
			sh.BackportHookConfig(cfg)
		}
	case "shell":
		plain = shhook.NewHook(filepath.Base(j.Binary), j.Binary, true, false, "", logger)
		plain.WithTmpDir(jobTmp)
		var output []byte
		output, err = executor.NewExecutor("", j.Binary, []string{"--config"}, os.Environ()).
			WithLogger(logger).WithCMDStdout(nil).Output()
		if err == nil {
			plain, err = plain.LoadConfig(output)
			cfg = plain.Config
		}
	default:
		r.HarnessError = "unknown operator " + j.Operator
		return r
	}
	if err != nil {
		r.ConfigError = err.Error()
		return r
	}
	r.Config, _ = json.Marshal(describeConfig(cfg, sh))
	if j.CaseDir == "" {
		return r
	}

	// Binding contexts.
	gen, spec, err := generatedContexts(j, cfg, sh)
	if err != nil {
		r.ContextError = err.Error()
		return r
	}
	contextPath := filepath.Join(j.CaseDir, "binding_context.json")
	if gen != nil {
		r.Context = "generated"
		rendered := normalizeJSON([]byte(gen.Rendered))
		r.BindingContext = rendered
		if j.Update {
			if err := os.WriteFile(contextPath, append(indentJSON(rendered), '\n'), 0o644); err != nil {
				r.HarnessError = err.Error()
				return r
			}
		} else if committed, err := os.ReadFile(contextPath); err != nil {
			r.ContextMismatch = "no binding_context.json: " + err.Error()
		} else if !bytes.Equal(normalizeJSON(committed), rendered) {
			r.ContextMismatch = "binding_context.json differs from what shell-operator's generator makes of objects.yaml"
		}
	} else {
		r.Context = "hand-made"
	}

	// Values (module hooks).
	var values, configValues utils.Values
	if j.Operator == "addon" {
		values, configValues, err = caseValues(j.CaseDir, schemas, spec)
		if err != nil {
			r.ValuesError = err.Error()
			return r
		}
	}

	run := &runResult{}
	r.Run = run
	switch {
	case sh != nil && gen != nil:
		res, err := sh.Execute(context.Background(), cfg.Version, gen.BindingContexts, moduleName, configValues, values, map[string]string{})
		run.Error = errorText(err)
		run.Stderr = stderrOf(err)
		if err == nil {
			run.Metrics, _ = metricsFromDir(jobTmp, sh.Name)
			for _, op := range res.ObjectPatcherOperations {
				run.KubernetesOperations = append(run.KubernetesOperations, op.Description())
			}
			recordValues(run, schemas, values, res.Patches[utils.MemoryValuesPatch], res.Patches[utils.ConfigMapPatch])
		}
		collectFiles(run, jobTmp, sh.Name, err != nil)
	case plain != nil && gen != nil:
		res, err := plain.Run(context.Background(), htypes.OnKubernetesEvent, gen.BindingContexts, map[string]string{})
		run.Error = errorText(err)
		run.Stderr = stderrOf(err)
		if err == nil {
			run.Metrics, _ = metricsFromDir(jobTmp, plain.Name)
			run.Exposition, err = exposition(res.Metrics, plain.Name)
			if err != nil {
				run.Error = "metric operations rejected by the hook metric storage: " + err.Error()
			}
			ops, perr := objectpatch.ParseOperations(res.KubernetesPatchBytes)
			if perr != nil {
				run.Error = "kubernetes operations rejected: " + perr.Error()
			}
			for _, op := range ops {
				run.KubernetesOperations = append(run.KubernetesOperations, op.Description())
			}
		}
		collectFiles(run, jobTmp, plain.Name, err != nil)
	default:
		rawRun(run, j, jobTmp, sh, configValues, values, schemas, logger)
	}
	run.Log = operatorLog(logs)
	if values != nil {
		run.ValuesIn, _ = json.Marshal(values)
		run.ConfigValuesIn, _ = json.Marshal(configValues)
	}
	return r
}

// describeConfig is the loaded config in a stable, readable form: what the operator will do.
func describeConfig(cfg *config.HookConfig, sh *kind.ShellHook) map[string]any {
	d := map[string]any{"configVersion": cfg.Version}
	if cfg.OnStartup != nil {
		d["onStartup"] = cfg.OnStartup.Order
	}
	if sh != nil {
		if v := sh.GetBeforeAll(); v != nil {
			d["beforeHelm"] = *v
		}
		if v := sh.GetAfterAll(); v != nil {
			d["afterHelm"] = *v
		}
	}
	var schedules []map[string]any
	for _, s := range cfg.Schedules {
		schedules = append(schedules, map[string]any{
			"name": s.BindingName, "crontab": s.ScheduleEntry.Crontab, "group": s.Group,
			"queue": s.Queue, "includeSnapshotsFrom": s.IncludeSnapshotsFrom,
		})
	}
	if schedules != nil {
		d["schedule"] = schedules
	}
	var kube []map[string]any
	for _, k := range cfg.OnKubernetesEvents {
		kube = append(kube, map[string]any{
			"name": k.BindingName, "kind": k.Monitor.Kind, "apiVersion": k.Monitor.ApiVersion,
			"group": k.Group, "queue": k.Queue,
			"executeHookOnSynchronization": k.ExecuteHookOnSynchronization,
			"executeHookOnEvent":           k.Monitor.EventTypes,
			"waitForSynchronization":       k.WaitForSynchronization,
			"keepFullObjectsInMemory":      k.Monitor.KeepFullObjectsInMemory,
		})
	}
	if kube != nil {
		d["kubernetes"] = kube
	}
	return d
}

// caseSpec is case.yaml: how the fixture's binding context is generated and which inputs are
// deliberately impossible in a real cluster.
type caseSpec struct {
	// Run: synchronization (default with objects.yaml), event, schedule, beforeHelm, afterHelm,
	// onStartup.
	Run string `json:"run"`
	// Then: for run=event, the objects after the change (a file beside case.yaml).
	Then string `json:"then,omitempty"`
	// Crontab: for run=schedule.
	Crontab string `json:"crontab,omitempty"`
	// RawValues: values.json is passed as is, without addon-operator's defaulting and
	// validation (a hand-made input addon-operator cannot produce; say why in notes.md).
	RawValues bool `json:"rawValues,omitempty"`
}

func readCaseSpec(dir string) (caseSpec, error) {
	var spec caseSpec
	data, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if errors.Is(err, os.ErrNotExist) {
		return spec, nil
	}
	if err != nil {
		return spec, err
	}
	if err := yaml.UnmarshalStrict(data, &spec); err != nil {
		return spec, fmt.Errorf("case.yaml: %w", err)
	}
	return spec, nil
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	var se *executor.StderrError
	if errors.As(err, &se) {
		return "hook failed (stderr captured)"
	}
	return err.Error()
}

func stderrOf(err error) string {
	var se *executor.StderrError
	if errors.As(err, &se) {
		return se.Message
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// setEnv applies a job's environment and returns the function that restores the old one.
func setEnv(env map[string]*string) func() {
	type old struct {
		v  string
		ok bool
	}
	saved := map[string]old{}
	for k, v := range env {
		ov, ok := os.LookupEnv(k)
		saved[k] = old{ov, ok}
		if v == nil {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, *v)
		}
	}
	return func() {
		for k, o := range saved {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

// operatorLog returns the lines the operator's executor logged from the hook's stdout/stderr,
// without the operator's volatile fields.
func operatorLog(buf *bytes.Buffer) []map[string]any {
	lines := []map[string]any{}
	for _, raw := range bytes.Split(buf.Bytes(), []byte("\n")) {
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			lines = append(lines, map[string]any{"unparsed": string(raw)})
			continue
		}
		if out, _ := m["output"].(string); out != "stdout" && out != "stderr" {
			continue
		}
		keep := map[string]any{}
		for k, v := range m {
			if k == "level" || k == "msg" || k == "output" || k == "proxyJsonLog" || strings.HasPrefix(k, "hook_") {
				keep[k] = v
			}
		}
		lines = append(lines, keep)
	}
	return lines
}

// collectFiles records non-empty output files left by a failed run, then removes everything.
func collectFiles(run *runResult, dir, hookName string, failed bool) {
	entries, _ := os.ReadDir(dir)
	names := []string{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		info, err := os.Stat(p)
		kind := outputKind(strings.ReplaceAll(e.Name(), hookName, ""))
		if err == nil && failed && info.Size() > 0 && kind != "" {
			names = append(names, kind)
		}
		os.Remove(p)
	}
	sort.Strings(names)
	if len(names) > 0 {
		run.LeftFiles = names
	}
}

// outputKind names an operator temp file (its name without the hook's name) by what it
// carries, from the operators' file names (prepare*File in shell-operator's hook.go and
// addon-operator's shellhook.go).
func outputKind(name string) string {
	switch {
	case strings.Contains(name, "binding-context"), strings.Contains(name, "admission"), strings.Contains(name, "conversion"),
		strings.Contains(name, "values-") && !strings.Contains(name, "patch"):
		return ""
	case strings.Contains(name, "metrics"):
		return "metrics"
	case strings.Contains(name, "object-patch"), strings.Contains(name, "kubernetes-patch"):
		return "kubernetes"
	case strings.Contains(name, "config-values-") && strings.HasSuffix(name, ".json-patch"):
		return "config_values_patch"
	case strings.Contains(name, "values-") && strings.HasSuffix(name, ".json-patch"):
		return "values_patch"
	}
	return ""
}

// metricsJSON renders metric operations as the operator's parser read them from the file.
func metricsJSON(ops []shhook.MetricOperation) json.RawMessage {
	if ops == nil {
		ops = []shhook.MetricOperation{}
	}
	data, _ := json.Marshal(ops)
	return data
}

// metricsFromDir parses the metrics file the operator created in dir, with the operator's parser.
func metricsFromDir(dir, hookName string) (json.RawMessage, error) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if outputKind(strings.ReplaceAll(e.Name(), hookName, "")) == "metrics" {
			ops, err := shhook.MetricOperationsFromFile(filepath.Join(dir, e.Name()), hookName)
			return metricsJSON(ops), err
		}
	}
	return nil, errors.New("the operator created no metrics file")
}

// exposition applies a run's metric operations to a hook metric storage set up as shell-operator's
// (operator.go: NewMetricStorage(WithNewRegistry()), ApplyBatchOperations with the hook label)
// and returns what its handler serves at /metrics/hooks.
func exposition(ops []operation.MetricOperation, hookName string) (string, error) {
	st := metricsstorage.NewMetricStorage(metricsstorage.WithNewRegistry(), metricsstorage.WithLogger(log.NewNop()))
	if err := st.ApplyBatchOperations(ops, map[string]string{"hook": hookName}); err != nil {
		return "", err
	}
	rec := httptest.NewRecorder()
	st.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/hooks", nil))
	return rec.Body.String(), nil
}

func normalizeJSON(data []byte) []byte {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return data
	}
	out, _ := json.Marshal(v)
	return out
}

func indentJSON(data []byte) []byte {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return data
	}
	return buf.Bytes()
}

// recordValues checks a values patch the way addon-operator does after a module hook.
func recordValues(run *runResult, schemas *moduleSchemas, values utils.Values, patch, cfgPatch *utils.ValuesPatch) {
	if cfgPatch != nil && len(cfgPatch.Operations) > 0 {
		run.ConfigValuesPatch, _ = json.Marshal(cfgPatch.Operations)
	}
	if patch == nil || len(patch.Operations) == 0 {
		return
	}
	run.ValuesPatch, _ = json.Marshal(patch.Operations)
	module, changed, err := schemas.applyPatch(values, *patch)
	run.ValuesChanged = changed
	if err != nil {
		run.ValuesOutError = err.Error()
	}
	if module != nil {
		run.ValuesOut, _ = json.Marshal(module)
	}
}

// caseValues builds the values files of a module hook run: config values checked by the
// config schema; module values layered and defaulted as addon-operator does, then validated.
func caseValues(dir string, schemas *moduleSchemas, spec caseSpec) (values, configValues utils.Values, err error) {
	rawValues, err := readJSONValues(filepath.Join(dir, "values.json"))
	if err != nil {
		return nil, nil, err
	}
	rawConfig, err := readJSONValues(filepath.Join(dir, "config_values.json"))
	if err != nil {
		return nil, nil, err
	}
	global, _ := rawValues["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
	}
	if spec.RawValues {
		return rawValues, rawConfig, nil
	}
	cfg := sectionOf(rawConfig)
	module, err := schemas.resultValues(sectionOf(rawValues), cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("config_values.json: addon-operator rejects it: %w", err)
	}
	if err := schemas.storage.ValidateValues(moduleKey, utils.Values{moduleKey: module}); err != nil {
		return nil, nil, fmt.Errorf("values.json: addon-operator cannot produce these values: %w", err)
	}
	cfgGlobal, _ := rawConfig["global"].(map[string]any)
	if cfgGlobal == nil {
		cfgGlobal = map[string]any{}
	}
	return utils.Values{"global": global, moduleKey: map[string]any(module)},
		utils.Values{"global": cfgGlobal, moduleKey: map[string]any(cfg)}, nil
}

func sectionOf(v utils.Values) utils.Values {
	if m, ok := v[moduleKey].(map[string]any); ok {
		return utils.Values(m)
	}
	return utils.Values{}
}

func readJSONValues(path string) (utils.Values, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return utils.Values{}, nil
	}
	if err != nil {
		return nil, err
	}
	v := utils.Values{}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
