#!/usr/bin/env bash
# Wraps deploy/alerts.yml into a prometheus-operator PrometheusRule.
# scripts/test.sh checks that prometheusrule.yaml is up to date.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
{
  cat <<'HEAD'
# Generated from deploy/alerts.yml by build-prometheusrule.sh; do not edit.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: vitals-exporter
  namespace: monitoring
  labels: {app.kubernetes.io/name: vitals-exporter}
spec:
HEAD
  grep -v '^#' "$here/../alerts.yml" | sed 's/^\(.\)/  \1/'
} > "$here/prometheusrule.yaml"
