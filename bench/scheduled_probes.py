#!/usr/bin/env python3
"""Scheduled probing cost of vitals_exporter: N services (1 000 and 10 000)
probing nginx on 200 local ports every INTERVAL_S seconds. Reports exporter
CPU seconds per probe (probes per CPU-second), RSS, and the /metrics render
time at that size. Uses ../shared/bench (nginx setup, process accounting) so
the figures sit beside blackbox_exporter's from 04_probe_capacity.py.

  python3 bench/scheduled_probes.py            # SERVICES=1000,10000 INTERVAL_S=10 MEASURE_S=30
"""
import os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("BENCH_ROOT", os.path.join(HERE, "..", "..", "shared", "bench"))
sys.path.insert(0, os.path.join(SHARED, "lib"))
sys.path.insert(0, SHARED)
import benchlib as B  # noqa: E402
probe_capacity = __import__("04_probe_capacity")

BIN = os.environ.get("VITALS_BIN", os.path.join(HERE, "..", "target", "release", "vitals_exporter"))


def main():
    B.ensure_pkgs("nginx-light:nginx")
    k = int(os.environ.get("TARGET_COUNT", "200"))
    base = int(os.environ.get("TARGET_BASE_PORT", "21000"))
    while not probe_capacity.ports_free(base, k):
        base += 1000
    interval = int(os.environ.get("INTERVAL_S", "10"))
    measure = float(os.environ.get("MEASURE_S", "30"))
    nginx = probe_capacity.start_nginx(base, k)
    try:
        for n in [int(x) for x in os.environ.get("SERVICES", "1000,10000").split(",")]:
            run(n, base, k, interval, measure)
    finally:
        probe_capacity.stop(nginx)


def run(n, base, k, interval, measure):
    d = tempfile.mkdtemp(prefix="vitals-sched-")
    cfg = os.path.join(d, "exporter.yaml")
    with open(cfg, "w") as f:
        f.write("defaults:\n  interval: %ds\n  timeout: 2s\nservices:\n" % interval)
        for i in range(n):
            f.write("  - name: svc-%05d\n    http:\n      url: http://127.0.0.1:%d/\n" % (i, base + i % k))
    port = B.free_port()
    p = subprocess.Popen([BIN, "--config.file", cfg, "--web.listen-address", "127.0.0.1:%d" % port,
                          "--storage.path", os.path.join(d, "data"), "--log.level", "warn"],
                         start_new_session=True)
    c = B.Client(port, timeout=30)
    try:
        for _ in range(300):
            try:
                if c.get("/-/ready")[0] == 200:
                    break
            except OSError:
                c = B.Client(port, timeout=30)
            time.sleep(0.1)
        time.sleep(interval + 2)  # one full round: every service probed once
        B.wait_quiet()

        def probes():
            return B.sum_selector(c.get("/metrics")[1].decode(), "vitals_probes_total")

        def delay_p99(body):
            # From the histogram's cumulative buckets: the first bound
            # holding 99% of the probe starts.
            buckets = []
            for line in body.splitlines():
                if line.startswith("vitals_probe_schedule_delay_seconds_bucket{"):
                    le = line.split('le="')[1].split('"')[0]
                    buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
            total = buckets[-1][1] if buckets else 0
            return next((le for le, c in buckets if total and c >= 0.99 * total), float("nan"))

        def fails():
            return B.sum_selector(c.get("/metrics")[1].decode(), "vitals_probe_failures_total")

        pids = B.session_pids(p.pid)
        cpu0, _, _ = B.proc_cpu_rss(pids)
        p0, f0 = probes(), fails()
        t0 = time.time()
        time.sleep(measure)
        cpu1, rss, _ = B.proc_cpu_rss(pids)
        p1, f1 = probes(), fails()
        wall = time.time() - t0
        # Scrape cost at this size (the two counter scrapes above are excluded).
        times, size = [], 0
        for _ in range(10):
            s = time.perf_counter()
            status, body = c.get("/metrics")[:2]
            times.append((time.perf_counter() - s) * 1000)
            size = len(body)
        cpu = cpu1 - cpu0
        p99_delay = delay_p99(c.get("/metrics")[1].decode())
        B.result("scheduled_probes", "vitals_exporter", services=n, interval_s=interval,
                 probes=int(p1 - p0), failed=int(f1 - f0), probes_per_s=round((p1 - p0) / wall, 1),
                 exporter_cpu_s=round(cpu, 3), probes_per_cpu_s=round((p1 - p0) / cpu, 1) if cpu else "inf",
                 rss_MB=round(rss / 1e6, 2), scrape_p50_ms=round(B.pct(times, 50), 2),
                 schedule_delay_p99_le_s=p99_delay,
                 scrape_bytes=size)
    finally:
        c.close()
        p.terminate()
        p.wait(10)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
