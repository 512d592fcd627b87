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

{{- define "fi.vpa" -}}{{ include "fi.moduleEnabled" (list . "vertical-pod-autoscaler-crd") }}{{- end -}}

{{- /* The one Madison test: internal.madisonAuthKey is a string that is neither empty nor "false". */ -}}
{{- define "fi.madisonEnabled" -}}
{{- $k := .Values.flantIntegration.internal.madisonAuthKey -}}
{{- if and (kindIs "string" $k) (ne $k "") (ne $k "false") }}true{{ end -}}
{{- end -}}

{{- define "fi.metricsEnabled" -}}{{ if .Values.flantIntegration.metrics }}true{{ end }}{{- end -}}
{{- define "fi.logsEnabled" -}}{{ if .Values.flantIntegration.logs }}true{{ end }}{{- end -}}

{{- /*
Images follow lib-helm (deckhouse_lib_helm 1.71.11, charts/helm_lib/templates/_module_image.tpl;
docs/decisions.md, "Installable module").

Module image, as helm_lib_module_image: (list . "pricing"). The digest is
global.modulesImages.digests.flantIntegration.<name> (Deckhouse fills it from the bundle's
images_digests.json); a missing digest fails the render. The repository is
<flantIntegration.registry.base>/flant-integration when Deckhouse injected the module's own
registry (an external module from a ModuleSource), else Deckhouse's global.modulesImages.registry.base.
*/ -}}
{{- define "fi.image" -}}
{{- $ctx := index . 0 -}}
{{- $name := index . 1 -}}
{{- $digests := index ($ctx.Values.global.modulesImages.digests | default dict) "flantIntegration" | default dict -}}
{{- $digest := index $digests $name -}}
{{- if not $digest }}{{ fail (printf "Image flantIntegration.%s has no digest" $name) }}{{ end -}}
{{- $base := $ctx.Values.global.modulesImages.registry.base -}}
{{- $registry := $ctx.Values.flantIntegration.registry | default dict -}}
{{- if $registry.base }}{{ $base = printf "%s/flant-integration" (trimAll "/" $registry.base) }}{{ end -}}
{{ $base }}@{{ $digest }}
{{- end -}}

{{- /*
Image of another Deckhouse module, as helm_lib_module_image with its optional module name:
(list . "prometheus" "prometheus") is global.modulesImages.digests.prometheus.prometheus in
Deckhouse's registry (global.modulesImages.registry.base; lib-helm replaces the base only when the
values hold <module>.registry.base, and a module's values never hold another module's section).
A missing digest fails the render with lib-helm's message.
*/ -}}
{{- define "fi.deckhouseModuleImage" -}}
{{- $ctx := index . 0 -}}
{{- $module := index . 1 -}}
{{- $name := index . 2 -}}
{{- $images := $ctx.Values.global.modulesImages -}}
{{- $digest := index (index ($images.digests | default dict) $module | default dict) $name -}}
{{- if not $digest }}{{ fail (printf "Image %s.%s has no digest" $module $name) }}{{ end -}}
{{ $images.registry.base }}@{{ $digest }}
{{- end -}}

{{- /* Common image of Deckhouse's own registry, as helm_lib_module_common_image: (list . "alpine"). */ -}}
{{- define "fi.commonImage" -}}
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

{{- define "fi.podSecurityNobody" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65534
  runAsGroup: 65534
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

{{- /* Init container chowning a volume to a user: (list . "agent-data" "/data/agent" 64535) */ -}}
{{- define "fi.chownInit" -}}
{{- $ctx := index . 0 -}}
{{- $uid := index . 3 | int -}}
- name: chown-volume-{{ index . 1 }}
  image: {{ include "fi.commonImage" (list $ctx "alpine") }}
  command: ["sh", "-c", "chown -R {{ $uid }}:{{ $uid }} {{ index . 2 }}"]
  securityContext:
    runAsUser: 0
    runAsGroup: 0
  volumeMounts:
  - name: {{ index . 1 }}
    mountPath: {{ index . 2 }}
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
{{- $noProxy := list "127.0.0.1" "169.254.169.254" ($cc.clusterDomain | default "cluster.local") -}}
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
