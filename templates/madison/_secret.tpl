{{- /* The Secret holding the effective Madison key; its rendered text is hashed into each proxy pod. */ -}}
{{- define "fi.madisonSecret" -}}
apiVersion: v1
kind: Secret
metadata:
  name: madison-proxy
  namespace: d8-monitoring
  labels:
    {{- include "fi.labels" (list . (dict "app" "madison-proxy")) | nindent 4 }}
type: Opaque
data:
  auth-key: {{ .Values.flantIntegration.internal.madisonAuthKey | b64enc }}
{{- end -}}
