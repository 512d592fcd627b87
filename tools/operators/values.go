package main

// Module values the way addon-operator computes and checks them.
//
// Schemas are loaded, extended (x-extend) and closed (additionalProperties: false) by
// addon-operator's validation.NewSchemaStorage; defaults are applied by validation.ApplyDefaults;
// values patches are checked and applied by utils.ValidateHookValuesPatch and
// utils.ApplyValuesPatch(Strict), exactly the calls BasicModule.executeHook makes.
//
// The one piece written here is the order of the layers, copied from
// pkg/module_manager/models/modules/values_storage.go (calculateResultValues):
//   static values → config-values schema defaults → config values → values schema defaults.
// That package cannot be imported: it needs github.com/werf/nelm v1.26.2, which the Go module
// proxy does not serve (nelm v1.28.0 is served but needs a kubedog pseudo-version that is not).

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flant/addon-operator/pkg/utils"
	"github.com/flant/addon-operator/pkg/values/validation"
)

const moduleName = "flant-integration"

// moduleKey is the values key of the module ("flantIntegration"), computed by addon-operator.
var moduleKey = utils.ModuleNameToValuesKey(moduleName)

type moduleSchemas struct {
	storage *validation.SchemaStorage
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
	return &moduleSchemas{storage: st}, nil
}

// withDefaults returns a copy of values with the defaults of one schema applied.
func (m *moduleSchemas) withDefaults(t validation.SchemaType, values utils.Values) utils.Values {
	res := values.Copy()
	if s := m.storage.Schemas[t]; s != nil {
		validation.ApplyDefaults(res, s)
	}
	return res
}

// configValues checks user config values as GenerateNewConfigValues(validate=true) does and
// returns them unchanged (addon-operator stores the user's values without defaults).
func (m *moduleSchemas) configValues(cfg utils.Values) (utils.Values, error) {
	withDefaults := utils.MergeValues(utils.Values{}, m.withDefaults(validation.ConfigValuesSchema, utils.Values{}), cfg)
	if err := m.storage.ValidateConfigValues(moduleKey, utils.Values{moduleKey: withDefaults}); err != nil {
		return nil, err
	}
	return cfg, nil
}

// resultValues layers static values, defaults and config values as ValuesStorage does.
func (m *moduleSchemas) resultValues(static, cfg utils.Values) utils.Values {
	res := utils.MergeValues(utils.Values{}, static)
	res = utils.MergeValues(res, m.withDefaults(validation.ConfigValuesSchema, res))
	res = utils.MergeValues(res, cfg)
	res = utils.MergeValues(res, m.withDefaults(validation.ValuesSchema, res))
	return res
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

// valuesCommand prints {"flantIntegration": <values>} for given config values: what Helm
// receives for the module before any hook patched it.
func valuesCommand(openapiDir, configPath string, out io.Writer) error {
	schemas, err := loadSchemas(openapiDir)
	if err != nil {
		return err
	}
	cfg := utils.Values{}
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return fmt.Errorf("%s: %w", configPath, err)
		}
	}
	if _, err := schemas.configValues(cfg); err != nil {
		return fmt.Errorf("config values rejected by addon-operator: %w", err)
	}
	values := schemas.resultValues(nil, cfg)
	if err := schemas.storage.ValidateValues(moduleKey, utils.Values{moduleKey: values}); err != nil {
		return fmt.Errorf("values rejected by addon-operator: %w", err)
	}
	return json.NewEncoder(out).Encode(utils.Values{moduleKey: values})
}
