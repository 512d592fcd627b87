// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

package main

// The serve subcommand: the pricing hooks run on fixture cases through shell-operator's Hook.Run,
// their metric operations applied to one hook metric storage set up as shell-operator's, and that
// storage served at /metrics/hooks on a loopback address until the process is killed or a
// timeout passes — what the pricing pod's agent scrapes at 127.0.0.1:9115.
//
// Optionally a second storage plays Deckhouse's own /metrics/hooks (the agent's
// deckhouse-telemetry job): gauge operations given in the request, applied with the `hook` label
// as addon-operator applies a global hook's metrics (pkg/module_manager/models/modules/global.go).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/deckhouse/deckhouse/pkg/log"
	metricsstorage "github.com/deckhouse/deckhouse/pkg/metrics-storage"
	"github.com/deckhouse/deckhouse/pkg/metrics-storage/operation"
	"github.com/flant/shell-operator/pkg/executor"
	shhook "github.com/flant/shell-operator/pkg/hook"
	htypes "github.com/flant/shell-operator/pkg/hook/types"
)

// serveRequest is what `serve` reads from stdin: the jobs of `run` (shell operator only, each
// with a case_dir) and the telemetry gauges.
type serveRequest struct {
	TmpDir string `json:"tmp_dir"`
	Jobs   []job  `json:"jobs"`
	// Telemetry are gauges served on --telemetry-listen (Deckhouse's /metrics/hooks).
	Telemetry []telemetryGauge `json:"telemetry,omitempty"`
}

type telemetryGauge struct {
	Hook   string            `json:"hook"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// serveEvent is one stdout line: first the ready line, then one per answered scrape.
type serveEvent struct {
	// Listening holds the served addresses (ready line only).
	Listening map[string]string `json:"listening,omitempty"`
	// Exposition is what each listener serves now (ready line only).
	Exposition map[string]string `json:"exposition,omitempty"`
	// Failed names the jobs whose run failed (their metrics are not applied, as in shell-operator).
	Failed map[string]string `json:"failed,omitempty"`
	// Served: listener name and how many /metrics/hooks requests it has answered so far.
	Listener string `json:"listener,omitempty"`
	Served   int    `json:"served,omitempty"`
}

func serveCommand(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9115", "address of the pricing hooks' /metrics/hooks (loopback only)")
	telemetryListen := fs.String("telemetry-listen", "", "address of the telemetry /metrics/hooks; empty: none")
	timeout := fs.Duration("timeout", 2*time.Minute, "exit after this long")
	_ = fs.Parse(args)

	var req serveRequest
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if req.TmpDir == "" {
		return errors.New("request: tmp_dir is required")
	}

	pricing := metricsstorage.NewMetricStorage(metricsstorage.WithNewRegistry(), metricsstorage.WithLogger(log.NewNop()))
	failed := map[string]string{}
	for _, j := range req.Jobs {
		ops, err := runForMetrics(req.TmpDir, j)
		if err == nil {
			// shell-operator (pkg/shell-operator/operator.go) labels every hook's metrics with `hook`.
			err = pricing.ApplyBatchOperations(ops, map[string]string{"hook": filepath.Base(j.Binary)})
		}
		if err != nil {
			failed[j.ID] = err.Error()
		}
	}
	listeners := map[string]*metricsstorage.MetricStorage{"pricing": pricing}
	addrs := map[string]string{"pricing": *listen}
	if *telemetryListen != "" {
		telemetry := metricsstorage.NewMetricStorage(metricsstorage.WithNewRegistry(), metricsstorage.WithLogger(log.NewNop()))
		for _, g := range req.Telemetry {
			v := g.Value
			op := operation.MetricOperation{Name: g.Name, Value: &v, Labels: g.Labels, Action: operation.ActionGaugeSet}
			if err := telemetry.ApplyBatchOperations([]operation.MetricOperation{op}, map[string]string{"hook": g.Hook}); err != nil {
				return fmt.Errorf("telemetry %s: %w", g.Name, err)
			}
		}
		listeners["telemetry"] = telemetry
		addrs["telemetry"] = *telemetryListen
	}

	enc := json.NewEncoder(out)
	var mu sync.Mutex
	emit := func(e serveEvent) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
	ready := serveEvent{Listening: map[string]string{}, Exposition: map[string]string{}, Failed: failed}
	for name, st := range listeners {
		ln, err := net.Listen("tcp", addrs[name])
		if err != nil {
			return err
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			return fmt.Errorf("%s: %s is not a loopback address", name, ln.Addr())
		}
		ready.Listening[name] = ln.Addr().String()
		ready.Exposition[name] = render(st)
		served := 0
		handler := st.Handler()
		mux := http.NewServeMux()
		name := name
		// As shell-operator's APIServer.RegisterRoute(GET /metrics/hooks, storage.Handler()).
		mux.HandleFunc("GET /metrics/hooks", func(w http.ResponseWriter, r *http.Request) {
			// The storage's own handler renders the answer; it is sent whole (Content-Length) and
			// flushed before the scrape counts as served, so a test that stops serving right after
			// a count never cuts off an answer it counted.
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			mu.Lock()
			served++
			n := served
			mu.Unlock()
			emit(serveEvent{Listener: name, Served: n})
		})
		go func() { _ = http.Serve(ln, mux) }()
	}
	emit(ready)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	<-ctx.Done()
	return nil
}

// runForMetrics runs one pricing hook on its fixture case as shell-operator does and returns the
// metric operations the operator parsed from its output.
func runForMetrics(tmpDir string, j job) ([]operation.MetricOperation, error) {
	if j.Operator != "shell" || j.CaseDir == "" {
		return nil, errors.New("serve runs pricing hooks (operator shell) on a case_dir")
	}
	restore := setEnv(j.Env)
	defer restore()
	dir, err := os.MkdirTemp(tmpDir, "serve-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logger := log.NewLogger(log.WithOutput(io.Discard), log.WithLevel(slog.LevelError))
	h := shhook.NewHook(filepath.Base(j.Binary), j.Binary, true, false, "", logger)
	h.WithTmpDir(dir)
	output, err := executor.NewExecutor("", j.Binary, []string{"--config"}, os.Environ()).
		WithLogger(logger).WithCMDStdout(nil).Output()
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	if h, err = h.LoadConfig(output); err != nil {
		return nil, err
	}
	gen, _, err := generatedContexts(j, h.Config, nil)
	if err != nil {
		return nil, err
	}
	if gen == nil {
		return nil, errors.New("serve needs a generated context (objects.yaml or case.yaml)")
	}
	res, err := h.Run(context.Background(), htypes.OnKubernetesEvent, gen.BindingContexts, map[string]string{})
	if err != nil {
		return nil, err
	}
	return res.Metrics, nil
}

// render is what the storage's handler serves now.
func render(st *metricsstorage.MetricStorage) string {
	rec := httptest.NewRecorder()
	st.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/hooks", nil))
	return rec.Body.String()
}
