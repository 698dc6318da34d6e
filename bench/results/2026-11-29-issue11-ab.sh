#!/bin/bash
# A/B: the same harness run twice, before and after issue 11, peers in the first.
cd /work/main
export EXPORTER_CMD="bash $PWD/bench/exporter.sh" EXPORTER_LABEL_METRIC='vitals_log_pattern_matches_total{pattern="user"}'
for t in ${AB_TESTS:-1 3 5 4}; do
  VITALS_BIN=/work/bench-bin/vitals_before_c3d9a64 EXPORTER_NAME=before_c3d9a64 BENCH_RESULTS=/tmp/bench/ab-before ../shared/bench/run_all.sh $t
  VITALS_BIN=/work/bench-bin/vitals_after_98e6141 EXPORTER_NAME=after_98e6141 BENCH_SUBJECTS=after_98e6141 BENCH_RESULTS=/tmp/bench/ab-after ../shared/bench/run_all.sh $t
done
