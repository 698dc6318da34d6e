#!/usr/bin/env bash
# Our side of the ../shared/bench contract (EXPORTER_CMD): turns the BENCH_*
# variables into an exporter.yaml and execs the release binary.
#   EXPORTER_CMD="bash $PWD/bench/exporter.sh" \
#   EXPORTER_LABEL_METRIC='vitals_log_pattern_matches_total{pattern="user"}' \
#   ../shared/bench/run_all.sh 1 2 3 5
# BENCH_MODE=json_levels follows the log with `format: json` and the default
# level fields.
set -euo pipefail
: "${BENCH_MODE:?}" "${BENCH_PORT:?}" "${BENCH_DIR:?}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${VITALS_BIN:-$HERE/target/release/vitals_exporter}"
CFG="$BENCH_DIR/exporter.yaml"

# YAML single-quoted scalar: double every single quote.
q() { printf "'%s'" "${1//\'/\'\'}"; }

case "$BENCH_MODE" in
  levels)
    cat > "$CFG" <<YAML
logs:
  - name: bench
    paths: [$(q "$BENCH_LOG")]
YAML
    ;;
  json_levels)
    cat > "$CFG" <<YAML
logs:
  - name: bench
    paths: [$(q "$BENCH_LOG")]
    format: json
YAML
    ;;
  labels)
    cat > "$CFG" <<YAML
logs:
  - name: bench
    paths: [$(q "$BENCH_LOG")]
    patterns:
      - name: user
        regex: $(q "$BENCH_LABEL_REGEX")
        labels: [user]
        max_series: 20000
YAML
    ;;
  probe)
    cat > "$CFG" <<YAML
modules:
  - name: http_2xx
    timeout: 5s
    http: {}
    allowed_targets: ['127.0.0.0/8']
YAML
    ;;
  *)
    echo "vitals_exporter bench wrapper: unknown BENCH_MODE=$BENCH_MODE" >&2
    exit 2
    ;;
esac
exec "$BIN" --config.file "$CFG" --web.listen-address "127.0.0.1:$BENCH_PORT" \
  --storage.path "$BENCH_DIR/data" --log.level warn
