#!/usr/bin/env python3
"""JSON level counting, two or more binaries interleaved on the same file.

    python3 bench/json_ab.py LOG BINARY[,BINARY...] [ROUNDS]

LOG is the 2 M-line file `../shared/bench/run_all.sh 6` generates (it keeps it
at $BENCH_TMP/app.json.log with the expected counts beside it in
app.json.log.counts.json). Each binary follows it from the beginning with
`format: json` (as bench/exporter.sh does in mode json_levels); reports the
exporter's CPU seconds until /metrics shows every line and exactly the
expected error count. The shared harness runs our subject once per
run; on this VM one run varies by ±25 %, so an A/B needs rounds.
"""
import json
import os
import sys
import tempfile

from idle_files import free_port
from nginx_values import run


def main():
    log, binaries = sys.argv[1], sys.argv[2].split(",")
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    want = json.load(open(log + ".counts.json"))
    lines = sum(1 for _ in open(log, "rb"))
    size = os.path.getsize(log)
    cfg = (f"logs:\n  - name: bench\n    start_at: beginning\n    format: json\n"
           f"    paths: ['{log}']\n")
    work = tempfile.mkdtemp(prefix="json-ab-")
    for _ in range(rounds):
        for binary in binaries:
            cpu = run(binary, cfg, free_port(), work, lines,
                      'vitals_log_lines_total{log="bench",level="error"}', want["error"], log)
            print(f"RESULT json_ab binary={binary} lines={lines} bytes={size} cpu_s={cpu:.2f} "
                  f"mb_per_cpu_s={size / 1e6 / max(cpu, 0.01):.0f}", flush=True)


if __name__ == "__main__":
    main()
