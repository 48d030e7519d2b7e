{{/* Labels every object of the release carries. */}}
{{- define "airlock.labels" -}}
app.kubernetes.io/name: airlock
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret of a zone: the one named in <zone>.existingSecret, else the chart's own. */}}
{{- define "airlock.zoneSecret" -}}
{{- $zone := index .root.Values .zone -}}
{{- $zone.existingSecret | default (printf "%s-%s" .root.Release.Name .zone) -}}
{{- end -}}

{{/* The image reference of a service's image name (all, worker, processing). */}}
{{- define "airlock.image" -}}
{{- $image := index .root.Values.images .image -}}
{{- printf "%s:%s" $image.repository $image.tag -}}
{{- end -}}
