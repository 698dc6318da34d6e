#!/usr/bin/env bash
# Installs what the tests need from Debian when it is missing:
# promtool and prometheus (package prometheus), alertmanager and amtool
# (package prometheus-alertmanager), blackbox_exporter for the /probe
# compatibility test (package prometheus-blackbox-exporter). Idempotent; safe to run on every CI start.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need+=(prometheus-blackbox-exporter)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${need[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The Debian packages may start services on :9090/:9093; tests start their own
# on free ports, so these only waste memory.
if command -v systemctl >/dev/null 2>&1; then
  for s in prometheus prometheus-alertmanager prometheus-blackbox-exporter; do
    systemctl is-active --quiet "$s" 2>/dev/null && systemctl stop "$s" || true
  done
fi
promtool --version | head -1
amtool --version 2>&1 | head -1
