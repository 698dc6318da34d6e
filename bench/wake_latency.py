#!/usr/bin/env python3
"""Write -> read latency of the follower itself, without a scrape in the way.

    python3 bench/wake_latency.py BINARY N

N files under one glob; a writer appends one ERROR line to 200 distinct
random files, one every 30 ms, the k-th line 8 + k bytes long. `perf trace`
records the writer's write(2) and the follower's pread64(2) of those bytes
(the length pairs them); the latency is the time between the end of each
write and the end of the read that got it.
"""
import os
import re
import subprocess
import sys
import time

from idle_files import make_logs

WRITER = """
import os, random, sys, time
logs, n, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.05)
for k, i in enumerate(random.sample(range(n), 200)):
    fd = os.open(f"{logs}/f{i:05}.log", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"ERROR x" + b"y" * k + b"\\n")
    os.close(fd)
    time.sleep(0.03)
"""


def main():
    binary, n = sys.argv[1], int(sys.argv[2])
    d, logs, cfg = make_logs(n, "vitals-wake-")
    go = os.path.join(d, "go")
    trace = os.path.join(d, "trace.txt")
    exporter = subprocess.Popen(
        [binary, "--config.file", cfg, "--web.listen-address", "127.0.0.1:0",
         "--storage.path", os.path.join(d, "data"), "--log.level", "warn"],
        stderr=subprocess.DEVNULL)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, logs, str(n), go])
    try:
        time.sleep(max(5, n / 1000))
        perf = subprocess.Popen(
            ["perf", "trace", "-e", "pread64,write", "-p", f"{exporter.pid},{writer.pid}",
             "-o", trace], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        open(go, "w").close()
        writer.wait()
        time.sleep(1)
        perf.terminate()
        perf.wait()
    finally:
        exporter.terminate()
        exporter.wait()
    writes, reads = {}, {}
    pat = re.compile(r"\s*([\d.]+) \(\s*([\d.]+) ms\): (\S+) (\w+)\((.*)\)\s+= (\d+)")
    with open(trace) as f:
        for line in f:
            m = pat.match(line)
            if not m:
                continue
            t, dur, comm, call, args, ret = m.groups()
            end = float(t) + float(dur)
            if call == "write" and "python" in comm:
                writes.setdefault(int(ret), end)
            elif call == "pread64" and "count: 65536" in args:
                reads.setdefault(int(ret), end)
    lat = sorted(reads[c] - w for c, w in writes.items() if c >= 8 and c in reads)
    k = len(lat)
    print(f"files={n} samples={k} write->read ms p50={lat[k // 2]:.3f} "
          f"p99={lat[int(k * 0.99)]:.3f} max={lat[-1]:.3f}")
    subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
