// Copyright (c) 2026 Flant JSC
// SPDX-License-Identifier: Apache-2.0

package main

// Module values the way addon-operator computes and checks them.
//
// The layers (static values → config-values schema defaults → config values → values schema
// defaults, then the hooks' patches) are addon-operator's own ValuesStorage
// (pkg/module_manager/models/modules, values_storage.go): NewValuesStorage, then
// GenerateNewConfigValues(validate=true) and SaveConfigValues as the kube config manager's
// events do. That package builds with `replace github.com/werf/nelm => v1.24.3` (go.mod).
// Schemas are loaded, extended (x-extend) and closed (additionalProperties: false) by
// validation.NewSchemaStorage inside it; values patches are checked and applied by
// utils.ValidateHookValuesPatch and utils.ApplyValuesPatch(Strict), the calls
// BasicModule.handleModuleValuesPatch makes.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flant/addon-operator/pkg/module_manager/models/modules"
	"github.com/flant/addon-operator/pkg/utils"
	"github.com/flant/addon-operator/pkg/values/validation"
)

const moduleName = "flant-integration"

// moduleKey is the values key of the module ("flantIntegration"), computed by addon-operator.
var moduleKey = utils.ModuleNameToValuesKey(moduleName)

type moduleSchemas struct {
	configBytes, valuesBytes []byte
	storage                  *validation.SchemaStorage
}

func loadSchemas(openapiDir string) (*moduleSchemas, error) {
	configBytes, err := os.ReadFile(filepath.Join(openapiDir, "config-values.yaml"))
	if err != nil {
		return nil, err
	}
	valuesBytes, err := os.ReadFile(filepath.Join(openapiDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	st, err := validation.NewSchemaStorage(configBytes, valuesBytes)
	if err != nil {
		return nil, fmt.Errorf("addon-operator rejects the module schemas: %w", err)
	}
	return &moduleSchemas{configBytes: configBytes, valuesBytes: valuesBytes, storage: st}, nil
}

// resultValues returns the module values addon-operator's ValuesStorage computes from static
// values (here: values hooks set earlier) and the user's config values, which it checks first
// (GenerateNewConfigValues with validation, the call the config manager's events make).
func (m *moduleSchemas) resultValues(static, cfg utils.Values) (utils.Values, error) {
	vs, err := modules.NewValuesStorage(moduleName, static.Copy(), m.configBytes, m.valuesBytes)
	if err != nil {
		return nil, err
	}
	checked, err := vs.GenerateNewConfigValues(cfg, true)
	if err != nil {
		return nil, err
	}
	vs.SaveConfigValues(checked)
	return vs.GetValues(false), nil
}

// applyPatch checks and applies a hook's values patch as BasicModule.handleModuleValuesPatch
// and executeHook do; it returns the new module values and any schema violation.
func (m *moduleSchemas) applyPatch(prefixed utils.Values, patch utils.ValuesPatch) (utils.Values, bool, error) {
	if err := utils.ValidateHookValuesPatch(patch, moduleKey); err != nil {
		return nil, false, fmt.Errorf("values patch rejected: %w", err)
	}
	newValues, changed, err := utils.ApplyValuesPatch(prefixed, patch, utils.Strict)
	if err != nil {
		return nil, false, fmt.Errorf("values patch does not apply: %w", err)
	}
	module, ok := newValues[moduleKey].(map[string]interface{})
	if !ok {
		if v, isValues := newValues[moduleKey].(utils.Values); isValues {
			module = v
		} else {
			return nil, false, fmt.Errorf("unknown module values type %T", newValues[moduleKey])
		}
	}
	if changed {
		if err := m.storage.ValidateValues(moduleKey, utils.Values{moduleKey: module}); err != nil {
			return module, changed, fmt.Errorf("values after the patch are invalid: %w", err)
		}
	}
	return module, changed, nil
}

// valuesCommand prints {"flantIntegration": <values>} for given config values and earlier module
// values (what hooks set under internal): the values Helm receives, as addon-operator layers,
// defaults and validates them.
func valuesCommand(openapiDir, configPath, priorPath string, forHelm bool, out io.Writer) error {
	schemas, err := loadSchemas(openapiDir)
	if err != nil {
		return err
	}
	cfg, err := readOptionalValues(configPath)
	if err != nil {
		return err
	}
	prior, err := readOptionalValues(priorPath)
	if err != nil {
		return err
	}
	values, err := schemas.resultValues(prior, cfg)
	if err != nil {
		return fmt.Errorf("config values rejected by addon-operator: %w", err)
	}
	doc := utils.Values{moduleKey: values}
	if err := schemas.storage.ValidateValues(moduleKey, doc); err != nil {
		return fmt.Errorf("values rejected by addon-operator: %w", err)
	}
	if forHelm {
		if err := schemas.storage.ValidateModuleHelmValues(moduleKey, doc); err != nil {
			return fmt.Errorf("values rejected by addon-operator before Helm: %w", err)
		}
	}
	return json.NewEncoder(out).Encode(doc)
}

func readOptionalValues(path string) (utils.Values, error) {
	v := utils.Values{}
	if path == "" {
		return v, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// validateCommand reads JSON lines {"openapi": DIR, "schema": "config"|"values"|"helm",
// "values": {...module section...}} and answers each with {"error": "..."} ("" when valid),
// using addon-operator's ValidateConfigValues / ValidateValues / ValidateModuleHelmValues.
func validateCommand(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	cache := map[string]*moduleSchemas{}
	for dec.More() {
		var c struct {
			OpenAPI string       `json:"openapi"`
			Schema  string       `json:"schema"`
			Values  utils.Values `json:"values"`
		}
		if err := dec.Decode(&c); err != nil {
			return err
		}
		s, ok := cache[c.OpenAPI]
		if !ok {
			var err error
			if s, err = loadSchemas(c.OpenAPI); err != nil {
				return err
			}
			cache[c.OpenAPI] = s
		}
		doc := utils.Values{moduleKey: c.Values}
		var err error
		switch c.Schema {
		case "config":
			err = s.storage.ValidateConfigValues(moduleKey, doc)
		case "values":
			err = s.storage.ValidateValues(moduleKey, doc)
		case "helm":
			err = s.storage.ValidateModuleHelmValues(moduleKey, doc)
		default:
			return fmt.Errorf("unknown schema %q", c.Schema)
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if err := enc.Encode(map[string]string{"error": msg}); err != nil {
			return err
		}
	}
	return nil
}
