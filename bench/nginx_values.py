#!/usr/bin/env python3
"""Histogram extraction speed on an nginx access log.

    python3 bench/nginx_values.py BINARY[,BINARY...] [LINES] [ROUNDS]

Writes LINES (default 2 000 000) access-log lines in the format of
deploy/examples/nginx.yaml (varied clients, paths, user agents, statuses,
request times), then for each config follows the file from its beginning
with the release binary and reports the exporter's CPU seconds (utime+stime
from /proc) from start until /metrics counts every line, and MB per
CPU-second:
  levels  - no pattern (the plain-text floor)
  matches - the example's regex, counted by status, no value/sum
  values  - the shipped example: $request_time histogram + $body_bytes_sent sum
Each count is checked exactly against the generated lines.
"""
import http.client
import os
import random
import re
import subprocess
import sys
import tempfile
import time

from idle_files import cpu_seconds, free_port

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    return body


def total(body, name):
    return sum(float(m) for m in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", body, re.M))


def generate(path, n):
    rnd = random.Random(12)
    paths = ["/", "/api/orders", "/api/orders/%d", "/static/app.%d.js", "/health", "/login?next=/a%%20b"]
    agents = ["curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
              "Go-http-client/1.1", "kube-probe/1.29", "Mozilla/5.0 (\\x22quoted\\x22)"]
    statuses = [200] * 20 + [201, 204, 301, 304, 400, 404, 404, 500, 502, 503]
    per_status = {}
    with open(path, "w") as f:
        for i in range(n):
            st = rnd.choice(statuses)
            per_status[st] = per_status.get(st, 0) + 1
            p = rnd.choice(paths)
            if "%d" in p:
                p = p % rnd.randrange(100000)
            f.write('10.%d.%d.%d - - [29/Nov/2026:22:%02d:%02d +0000] "GET %s HTTP/1.1" %d %d "-" "%s" %.3f\n' % (
                rnd.randrange(256), rnd.randrange(256), rnd.randrange(256), (i // 60) % 60, i % 60,
                p, st, rnd.randrange(100000), rnd.choice(agents), rnd.expovariate(20)))
    return per_status


def warm(path):
    """Reads `path` once: this VM's page cache drops some pages of a big
    file between runs, and a run that reads them from disk costs more."""
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def run(binary, cfg_text, port, workdir, want_lines, want_metric, want, log=None):
    if log:
        warm(log)
    cfg = os.path.join(workdir, "exporter.yaml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    data = tempfile.mkdtemp(dir=workdir)
    proc = subprocess.Popen([binary, "--config.file", cfg, "--web.listen-address", f"127.0.0.1:{port}",
                             "--storage.path", data, "--log.level", "warn"])
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                body = metrics(port)
            except OSError:
                time.sleep(0.01)
                continue
            if total(body, "vitals_log_lines_total") == want_lines and (
                    want_metric is None or total(body, want_metric) == want):
                return cpu_seconds(proc.pid)
            time.sleep(0.01)
        raise SystemExit(f"timeout:\n{body}")
    finally:
        proc.terminate()
        proc.wait()


def main():
    # Several binaries (comma-separated) and rounds: an A/B in one run, interleaved so that
    # the host's load drifts over both alike.
    binaries = sys.argv[1].split(",")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    work = tempfile.mkdtemp(prefix="nginx-values-")
    log = os.path.join(work, "access.log")
    generate(log, n)
    size = os.path.getsize(log)
    example = open(os.path.join(HERE, "deploy/examples/nginx.yaml")).read()
    example = example.replace("/var/log/nginx/access.log", log).replace(
        "    paths:", "    start_at: beginning\n    paths:")
    matches_only = re.sub(r"        # \$request_time.*", "", example, flags=re.S)
    levels = f"logs:\n  - name: nginx\n    start_at: beginning\n    paths: ['{log}']\n"
    print(f"{n} lines, {size / 1e6:.1f} MB")
    for _ in range(rounds):
        for name, cfg, metric in [
            ("levels", levels, None),
            ("matches", matches_only, "vitals_log_pattern_matches_total"),
            ("values", example, "vitals_log_pattern_value_seconds_count"),
        ]:
            for binary in binaries:
                cpu = run(binary, cfg, free_port(), work, n, metric, n, log)
                print(f"RESULT nginx_values mode={name} binary={binary} lines={n} bytes={size} "
                      f"cpu_s={cpu:.2f} mb_per_cpu_s={size / 1e6 / max(cpu, 0.01):.0f}", flush=True)


if __name__ == "__main__":
    main()
