#!/usr/bin/env python3
"""Cost of following many idle files: idle CPU, RSS, write->count latency.

    python3 bench/idle_files.py BINARY N [N ...]

For each N: N files with one line each under one glob, the exporter started
on them; once every file is followed and 3 s have passed, CPU (utime+stime
from /proc) over 20 s, RSS, then 100 appends of one ERROR line to a random
file, each timed until /metrics shows it (scraping as fast as it can).
"""
import http.client
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def value(conn, series):
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    m = re.search(re.escape(series) + r" (\S+)", body)
    return float(m.group(1)) if m else None


def make_logs(n, prefix):
    """A scratch dir with N one-line logs f00000.log... and a config
    following them; returns (dir, logs dir, config path)."""
    d = tempfile.mkdtemp(prefix=prefix)
    logs = os.path.join(d, "logs")
    os.mkdir(logs)
    for i in range(n):
        with open(os.path.join(logs, f"f{i:05}.log"), "w") as f:
            f.write("INFO start\n")
    cfg = os.path.join(d, "exporter.yaml")
    with open(cfg, "w") as f:
        f.write(f"logs:\n  - name: bench\n    paths: ['{logs}/*.log']\n")
    return d, logs, cfg


def run(binary, n):
    d, logs, cfg = make_logs(n, "vitals-idle-")
    port = free_port()
    p = subprocess.Popen(
        [binary, "--config.file", cfg, "--web.listen-address", f"127.0.0.1:{port}",
         "--storage.path", os.path.join(d, "data"), "--log.level", "warn"],
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        conn = None
        while time.time() < deadline:
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                if value(conn, 'vitals_log_files_followed{log="bench"}') == n:
                    break
            except OSError:
                conn = None
            time.sleep(0.2)
        else:
            raise SystemExit(f"{n} files not followed in time")
        time.sleep(3)
        c0, t0 = cpu_seconds(p.pid), time.time()
        time.sleep(20)
        c1, t1 = cpu_seconds(p.pid), time.time()
        idle = 100 * (c1 - c0) / (t1 - t0)
        rss = rss_kib(p.pid)
        errors = 'vitals_log_lines_total{log="bench",level="error"}'
        # The server closed the idle keep-alive connection meanwhile.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        lat = []
        for k in range(100):
            path = os.path.join(logs, f"f{random.randrange(n):05}.log")
            before = value(conn, errors)
            start = time.perf_counter()
            with open(path, "a") as f:
                f.write("ERROR x\n")
            while value(conn, errors) == before:
                pass
            lat.append((time.perf_counter() - start) * 1000)
            time.sleep(0.05)
        lat.sort()
        print(f"files={n} idle_cpu={idle:.2f}% rss={rss / 1024:.1f}MiB "
              f"per_file={rss / n if n else 0:.2f}KiB "
              f"latency_ms p50={lat[49]:.2f} p99={lat[98]:.2f} max={lat[99]:.2f}",
              flush=True)
    finally:
        p.terminate()
        p.wait()
        subprocess.run(["rm", "-rf", d])


def main():
    binary = sys.argv[1]
    for n in sys.argv[2:]:
        run(binary, int(n))


if __name__ == "__main__":
    main()
