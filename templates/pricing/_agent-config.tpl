{{- /*
The metrics agent's configuration: plain Prometheus configuration for Prometheus in agent mode
(docs/internal/decisions.md, "The metrics agent"). Rendered into the Secret prometheus-agent-config and
hashed by the DaemonSet. The agent scrapes shell-operator's /metrics/hooks in the pod and
Deckhouse's telemetry, keeps only flant_pricing_* / d8_telemetry_* series, labels them with the
cluster UUID and the node (__replica__, an external label expanded from NODE_NAME by the
expand-external-labels feature) and remote-writes them with the license key as bearer token.
*/ -}}
{{- define "fi.agentConfig" -}}
{{- $d := .Values.global.discovery | default dict -}}
{{- $domain := include "fi.clusterDomain" . -}}
{{- $uuid := $d.clusterUUID | default "" -}}
{{- $relabel := list
  (dict "source_labels" (list "job") "target_label" "cluster_uuid" "replacement" $uuid)
  (dict "regex" "hook|instance" "action" "labeldrop") -}}
{{- $telemetry := dict "job_name" "deckhouse-telemetry" "metrics_path" "/metrics/hooks"
  "static_configs" (list (dict "targets" (list (printf "deckhouse.d8-system.svc.%s:8080" $domain))))
  "metric_relabel_configs" (prepend $relabel (dict "source_labels" (list "__name__") "regex" "d8_telemetry_.+" "action" "keep")) -}}
{{- $pricing := dict "job_name" "flant-pricing" "metrics_path" "/metrics/hooks"
  "static_configs" (list (dict "targets" (list "127.0.0.1:9115")))
  "metric_relabel_configs" (prepend $relabel (dict "source_labels" (list "__name__") "regex" "flant_pricing_.+" "action" "keep")) -}}
{{- /* The scrape's own series (up, scrape_*) bypass metric_relabel_configs: the allow-list is
enforced once more on what leaves the pod. */ -}}
{{- $rw := dict "url" .Values.flantIntegration.metrics.url "metadata_config" (dict "send" false)
  "write_relabel_configs" (list (dict "source_labels" (list "__name__") "regex" "flant_pricing_.+|d8_telemetry_.+" "action" "keep")) -}}
{{- with .Values.flantIntegration.internal.licenseKey }}{{ $_ := set $rw "authorization" (dict "type" "Bearer" "credentials" .) }}{{ end -}}
{{- with include "fi.proxyURL" . }}{{ $_ := set $rw "proxy_url" . }}{{ end -}}
{{- $config := dict
  "global" (dict "scrape_interval" "5m" "external_labels" (dict "__replica__" "${NODE_NAME}"))
  "scrape_configs" (list $telemetry $pricing)
  "remote_write" (list $rw) -}}
{{ toYaml $config }}
{{- end -}}

