{{- /* The grafana-agent (static mode) configuration; rendered into the Secret and hashed by the DaemonSet. */ -}}
{{- define "fi.agentConfig" -}}
{{- $d := .Values.global.discovery | default dict -}}
{{- $domain := $d.clusterDomain | default "cluster.local" -}}
{{- $uuid := $d.clusterUUID | default "" -}}
{{- $relabel := list
  (dict "source_labels" (list "job") "target_label" "cluster_uuid" "replacement" $uuid)
  (dict "source_labels" (list "instance") "target_label" "__replica__" "replacement" "${NODE_NAME}")
  (dict "regex" "hook|instance" "action" "labeldrop") -}}
{{- $telemetry := dict "job_name" "deckhouse-telemetry" "metrics_path" "/metrics/hooks"
  "static_configs" (list (dict "targets" (list (printf "deckhouse.d8-system.svc.%s:8080" $domain))))
  "metric_relabel_configs" (prepend $relabel (dict "source_labels" (list "__name__") "regex" "d8_telemetry_.+" "action" "keep")) -}}
{{- $pricing := dict "job_name" "flant-pricing" "metrics_path" "/metrics/hooks"
  "static_configs" (list (dict "targets" (list "127.0.0.1:9115")))
  "metric_relabel_configs" (prepend $relabel (dict "source_labels" (list "__name__") "regex" "flant_pricing_.+" "action" "keep")) -}}
{{- $rw := dict "url" .Values.flantIntegration.metrics.url "bearer_token" (.Values.flantIntegration.internal.licenseKey | default "") "metadata_config" (dict "send" false) -}}
{{- with include "fi.proxyURL" . }}{{ $_ := set $rw "proxy_url" . }}{{ end -}}
{{- $config := dict
  "server" (dict "log_level" "info" "http_listen_port" 8080)
  "prometheus" (dict
    "wal_directory" "/data/agent/wal"
    "global" (dict "scrape_interval" "5m")
    "configs" (list (dict "name" "agent" "host_filter" false "max_wal_time" "360h"
      "scrape_configs" (list $telemetry $pricing)
      "remote_write" (list $rw)))) -}}
{{ toYaml $config }}
{{- end -}}
