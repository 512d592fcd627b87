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
{{- /* toYaml swallows the YAML marshaller's error and returns "": a setting holding DEL, a C1
control, U+FFFE or U+FFFF (encoding/json writes them raw, go-yaml's reader refuses them) gave an
empty prometheus.yml and an agent that silently sends nothing; a NEL is written raw and read back
as a line break. So the text must read back (go-yaml, as Prometheus reads it) as exactly the
configuration built, or the render fails (docs/internal/decisions.md, "Hardening round 3"). */ -}}
{{- $text := toYaml $config -}}
{{- if ne (toJson (fromYaml $text)) (toJson $config) }}{{ fail "flant-integration: the metrics agent configuration does not survive YAML: flantIntegration.metrics.url, the license key, global.discovery.clusterUUID or clusterDomain, or the cluster proxy holds a character YAML cannot carry (DEL or another C1 control, U+FFFE or U+FFFF)" }}{{ end -}}
{{ $text }}
{{- end -}}

