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

{{- /* Module image: (list . "flantPricing") */ -}}
{{- define "fi.image" -}}
{{- $ctx := index . 0 -}}
{{- $images := $ctx.Values.global.modulesImages -}}
{{ $images.registry.base }}@{{ index $images.digests.flantIntegration (index . 1) }}
{{- end -}}

{{- /* Common image: (list . "alpine") */ -}}
{{- define "fi.commonImage" -}}
{{- $ctx := index . 0 -}}
{{- $images := $ctx.Values.global.modulesImages -}}
{{ $images.registry.base }}@{{ index $images.digests.common (index . 1) }}
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

{{- define "fi.containerSecurityReadOnly" -}}
securityContext:
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
{{- end -}}

{{- /* Init container chowning a volume to nobody: (list . "agent-data" "/data/agent") */ -}}
{{- define "fi.chownInit" -}}
{{- $ctx := index . 0 -}}
- name: chown-volume-{{ index . 1 }}
  image: {{ include "fi.commonImage" (list $ctx "alpine") }}
  command: ["sh", "-c", "chown -R 65534:65534 {{ index . 2 }}"]
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
