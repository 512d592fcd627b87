{{- /*
Helpers for the flant-integration templates. They implement, in this chart, the effect of the
Deckhouse lib-helm helpers the spec names (templates-and-schemas.md §1), so the chart renders with
a plain Helm engine.
*/ -}}

{{- /* Module labels plus extra labels: (list . (dict "app" "pricing")) */ -}}
{{- define "fi.labels" -}}
{{- $extra := index . 1 -}}
heritage: deckhouse
module: flant-integration
{{- range $k, $v := $extra }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{- /* "true" when module X is enabled: (list . "module-name") */ -}}
{{- define "fi.moduleEnabled" -}}
{{- $ctx := index . 0 -}}
{{- if has (index . 1) ($ctx.Values.global.enabledModules | default list) }}true{{ end -}}
{{- end -}}

{{- /*
"true" when the cluster serves an API: (list . "group/version/Kind"). Objects of another module's
kinds are gated on the API being served, not on a module name (Helm fills .Capabilities.APIVersions
from the API server's discovery; docs/internal/decisions.md, "Judged by Deckhouse: the chart").
*/ -}}
{{- define "fi.apiServed" -}}
{{- if (index . 0).Capabilities.APIVersions.Has (index . 1) }}true{{ end -}}
{{- end -}}

{{- define "fi.vpa" -}}{{ include "fi.apiServed" (list . "autoscaling.k8s.io/v1/VerticalPodAutoscaler") }}{{- end -}}

{{- /* The cluster's DNS domain, as Deckhouse discovers it (global.discovery.clusterDomain). */ -}}
{{- define "fi.clusterDomain" -}}
{{- required "global.discovery.clusterDomain is required" (.Values.global.discovery | default dict).clusterDomain -}}
{{- end -}}

{{- /* The one Madison test: internal.madisonAuthKey is a string that is neither empty nor "false". */ -}}
{{- define "fi.madisonEnabled" -}}
{{- $k := .Values.flantIntegration.internal.madisonAuthKey -}}
{{- if and (kindIs "string" $k) (ne $k "") (ne $k "false") }}true{{ end -}}
{{- end -}}

{{- define "fi.metricsEnabled" -}}{{ if .Values.flantIntegration.metrics }}true{{ end }}{{- end -}}
{{- define "fi.logsEnabled" -}}{{ if .Values.flantIntegration.logs }}true{{ end }}{{- end -}}

{{- /*
Images follow lib-helm (deckhouse_lib_helm 1.71.11, charts/helm_lib/templates/_module_image.tpl;
docs/internal/decisions.md, "Installable module"), under lib-helm's names and signatures: Deckhouse's module
linter renders the chart with its own stand-ins for exactly these helpers (dmt
internal/modules/render/image_stub.tpl), since it cannot know the digests.

helm_lib_module_image (list . "pricing"): this module's image. The digest is
global.modulesImages.digests.flantIntegration.<name> (Deckhouse fills it from the bundle's
images_digests.json); a missing digest fails the render. The repository is
<flantIntegration.registry.base>/flant-integration when Deckhouse injected the module's own
registry (an external module from a ModuleSource), else Deckhouse's global.modulesImages.registry.base.

helm_lib_module_image (list . "prometheus" "prometheus"): the image of another Deckhouse module
(lib-helm's optional module name), global.modulesImages.digests.<module>.<name> in Deckhouse's
registry (lib-helm replaces the base only when the values hold <module>.registry.base, and a
module's values never hold another module's section).
*/ -}}
{{- define "helm_lib_module_image" -}}
{{- $ctx := index . 0 -}}
{{- $name := index . 1 -}}
{{- $module := "flantIntegration" -}}
{{- if gt (len .) 2 }}{{ $module = index . 2 }}{{ end -}}
{{- $images := $ctx.Values.global.modulesImages -}}
{{- $digest := index (index ($images.digests | default dict) $module | default dict) $name -}}
{{- if not $digest }}{{ fail (printf "Image %s.%s has no digest" $module $name) }}{{ end -}}
{{- $base := $images.registry.base -}}
{{- $registry := $ctx.Values.flantIntegration.registry | default dict -}}
{{- if and (eq $module "flantIntegration") $registry.base }}{{ $base = printf "%s/flant-integration" (trimAll "/" $registry.base) }}{{ end -}}
{{ $base }}@{{ $digest }}
{{- end -}}

{{- /* Common image of Deckhouse's own registry: helm_lib_module_common_image (list . "kubeRbacProxy"). */ -}}
{{- define "helm_lib_module_common_image" -}}
{{- $ctx := index . 0 -}}
{{- $name := index . 1 -}}
{{- $images := $ctx.Values.global.modulesImages -}}
{{- $digest := index ($images.digests.common | default dict) $name -}}
{{- if not $digest }}{{ fail (printf "Image common.%s has no digest" $name) }}{{ end -}}
{{ $images.registry.base }}@{{ $digest }}
{{- end -}}

{{- /* "true" when the module has its own registry credentials (flantIntegration.registry.dockercfg,
injected by Deckhouse for an external module); its pull secret is then flant-integration-registry. */ -}}
{{- define "fi.moduleRegistry" -}}
{{- if (.Values.flantIntegration.registry | default dict).dockercfg }}true{{ end -}}
{{- end -}}

{{- /* imagePullSecrets of a pod running module images: (list . true) when it also runs common
images, which come from Deckhouse's registry (deckhouse-registry). */ -}}
{{- define "fi.imagePullSecrets" -}}
{{- $ctx := index . 0 -}}
{{- $common := index . 1 -}}
{{- $own := include "fi.moduleRegistry" $ctx -}}
imagePullSecrets:
{{- if or $common (not $own) }}
- name: deckhouse-registry
{{- end }}
{{- if $own }}
- name: flant-integration-registry
{{- end }}
{{- end -}}

{{- define "fi.nodeSelectorMaster" -}}
nodeSelector:
  node-role.kubernetes.io/control-plane: ""
{{- end -}}

{{- /* Deckhouse's monitoring placement: monitoring nodes, else system nodes, else anywhere. */ -}}
{{- define "fi.nodeSelectorMonitoring" -}}
{{- $roles := .Values.global.discovery.d8SpecificNodeCountByRole | default dict -}}
{{- if (index $roles "monitoring") }}
nodeSelector:
  node-role.deckhouse.io/monitoring: ""
{{- else if (index $roles "system") }}
nodeSelector:
  node-role.deckhouse.io/system: ""
{{- end -}}
{{- end -}}

{{- define "fi.tolerationsAnyNode" -}}
tolerations:
- operator: Exists
{{- end -}}

{{- define "fi.tolerationsMonitoring" -}}
tolerations:
- key: dedicated.deckhouse.io
  operator: Equal
  value: monitoring
- key: dedicated.deckhouse.io
  operator: Equal
  value: system
{{- end -}}

{{- /* The pod security context "nobody", with the container runtime's default seccomp profile. */ -}}
{{- define "fi.podSecurityNobody" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65534
  runAsGroup: 65534
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- /* Deckhouse's own user (64535), as helm_lib_module_pod_security_context_run_as_user_deckhouse:
images built by Deckhouse (its Prometheus) make their binaries 0700 for that user. */ -}}
{{- define "fi.containerSecurityReadOnlyDeckhouse" -}}
securityContext:
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  runAsNonRoot: true
  runAsUser: 64535
  runAsGroup: 64535
{{- end -}}

{{- define "fi.containerSecurityReadOnly" -}}
securityContext:
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
{{- end -}}

{{- /*
Init container chowning a volume to a user: (list . "agent-data" "/data/agent" 64535), as lib-helm's
helm_lib_module_init_container_chown_deckhouse_volume: root (runAsNonRoot: false overrides the
pod's non-root policy for this container only), a read-only root, no privilege escalation, and the
"logs only" ephemeral-storage request, and Deckhouse's common "init" image where the release has one
(alpine otherwise).
*/ -}}
{{- define "fi.chownInit" -}}
{{- $ctx := index . 0 -}}
{{- $uid := index . 3 | int -}}
{{- $image := "alpine" -}}
{{- if hasKey ($ctx.Values.global.modulesImages.digests.common | default dict) "init" }}{{ $image = "init" }}{{ end }}
- name: chown-volume-{{ index . 1 }}
  image: {{ include "helm_lib_module_common_image" (list $ctx $image) }}
  command: ["sh", "-c", "chown -R {{ $uid }}:{{ $uid }} {{ index . 2 }}"]
  securityContext:
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    runAsNonRoot: false
    runAsUser: 0
    runAsGroup: 0
  volumeMounts:
  - name: {{ index . 1 }}
    mountPath: {{ index . 2 }}
  resources:
    requests:
      ephemeral-storage: 50Mi
{{- end -}}

{{- /* Proxy env vars from global.clusterConfiguration.proxy. */ -}}
{{- define "fi.proxyEnv" -}}
{{- $cc := .Values.global.clusterConfiguration | default dict -}}
{{- $proxy := $cc.proxy | default dict -}}
{{- if $proxy }}
{{- if $proxy.httpProxy }}
- name: HTTP_PROXY
  value: {{ $proxy.httpProxy | quote }}
- name: http_proxy
  value: {{ $proxy.httpProxy | quote }}
{{- end }}
{{- if $proxy.httpsProxy }}
- name: HTTPS_PROXY
  value: {{ $proxy.httpsProxy | quote }}
- name: https_proxy
  value: {{ $proxy.httpsProxy | quote }}
{{- end }}
{{- $noProxy := list "127.0.0.1" "169.254.169.254" (include "fi.clusterDomain" .) -}}
{{- with $cc.podSubnetCIDR }}{{ $noProxy = append $noProxy . }}{{ end -}}
{{- with $cc.serviceSubnetCIDR }}{{ $noProxy = append $noProxy . }}{{ end -}}
{{- range ($proxy.noProxy | default list) }}{{ $noProxy = append $noProxy . }}{{ end }}
- name: NO_PROXY
  value: {{ join "," $noProxy | quote }}
- name: no_proxy
  value: {{ join "," $noProxy | quote }}
{{- end }}
{{- end -}}

{{- /* 0/1 from a boolean value. */ -}}
{{- define "fi.bool01" -}}{{ if . }}1{{ else }}0{{ end }}{{- end -}}

{{- /* The cluster proxy URL for remote_write: httpsProxy preferred. */ -}}
{{- define "fi.proxyURL" -}}
{{- $cc := .Values.global.clusterConfiguration | default dict -}}
{{- $proxy := $cc.proxy | default dict -}}
{{- if $proxy.httpsProxy }}{{ $proxy.httpsProxy }}{{ else if $proxy.httpProxy }}{{ $proxy.httpProxy }}{{ end -}}
{{- end -}}

{{- /*
The effect of lib-helm's helm_lib_prometheus_rules (deckhouse/lib-helm
charts/helm_lib/templates/_monitoring_prometheus_rules.tpl), under the name Deckhouse's module
linter looks for in templates/monitoring.yaml: (list . <namespace> <file list>) renders one
PrometheusRule per listed file of monitoring/prometheus-rules/, named <chart>-<file>, its
__SCRAPE_INTERVAL*__ placeholders replaced by multiples of global.discovery.prometheusScrapeInterval.
Gated on the PrometheusRule API being served (lib-helm asks for the fake operator-prometheus-crd
module instead).
*/ -}}
{{- define "helm_lib_prometheus_rules" -}}
{{- $ctx := index . 0 -}}
{{- $namespace := index . 1 -}}
{{- $files := index . 2 -}}
{{- if include "fi.apiServed" (list $ctx "monitoring.coreos.com/v1/PrometheusRule") }}
{{- $interval := $ctx.Values.global.discovery.prometheusScrapeInterval | default 30 | int }}
{{- range $path := $files }}
{{- $text := $ctx.Files.Get $path }}
{{- $text = $text | replace "__SCRAPE_INTERVAL_X_4__" (printf "%ds" (mul $interval 4)) | replace "__SCRAPE_INTERVAL_X_3__" (printf "%ds" (mul $interval 3)) | replace "__SCRAPE_INTERVAL_X_2__" (printf "%ds" (mul $interval 2)) | replace "__SCRAPE_INTERVAL__" (printf "%ds" $interval) }}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ printf "%s-%s" $ctx.Chart.Name (trimSuffix ".yaml" (base $path)) }}
  namespace: {{ $namespace }}
  labels:
    {{- include "fi.labels" (list $ctx (dict "app" "prometheus" "prometheus" "main" "component" "rules")) | nindent 4 }}
spec:
  groups:
    {{- $text | nindent 4 }}
{{- end }}
{{- end }}
{{- end -}}
