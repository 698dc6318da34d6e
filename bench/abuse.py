#!/usr/bin/env python3
"""Scrape latency while hostile clients hold connections open, for our
exporter and blackbox_exporter (a Go exporter serving through
exporter-toolkit) in the same run.

For each kind of attack, HOSTILE (2 000) connections are opened and left as
they are; then SCRAPES (100) scrapes of /metrics, each on a new connection
(the worst case: a scraper that reconnects needs a free slot), measure the
latency from connect to the last byte. Afterwards the hostile sockets are
watched for CLOSE_WAIT_S (40) seconds to see when the server frees them.

Kinds:
  silent     connect and send nothing
  h2preface  send only the HTTP/2 client preface, no SETTINGS
  partial    send half a request head, then nothing
  noread     pipeline 200 GET /metrics with a 4 KiB receive buffer, never read

  EXPORTER_CMD="bash $PWD/bench/exporter.sh" python3 bench/abuse.py

Prints RESULT lines in the format of ../shared/bench (test=abuse).
"""
import http.client, os, select, socket, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("BENCH_ROOT", os.path.join(HERE, "..", "..", "shared", "bench"))
sys.path.insert(0, os.path.join(SHARED, "lib"))
import benchlib as B  # noqa: E402

HOSTILE = int(os.environ.get("HOSTILE", "2000"))
SCRAPES = int(os.environ.get("SCRAPES", "100"))
CLOSE_WAIT_S = float(os.environ.get("CLOSE_WAIT_S", "40"))
SCRAPE_TIMEOUT_S = 10.0
KINDS = os.environ.get("KINDS", "silent,h2preface,partial,noread").split(",")

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def open_hostile(port, kind):
    socks = []
    for _ in range(HOSTILE):
        s = socket.socket()
        if kind == "noread":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        try:
            if kind == "h2preface":
                s.send(H2_PREFACE)
            elif kind == "partial":
                s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            elif kind == "noread":
                s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        except OSError:
            pass
        socks.append(s)
    return socks


def scrape(port):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=SCRAPE_TIMEOUT_S)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        r.read()
        ok = r.status == 200
    except OSError:
        ok = False
    finally:
        c.close()
    return ok, (time.perf_counter() - t0) * 1000.0


def closed_by_server(s):
    """True once the peer closed (EOF or reset); drains what it sent."""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def watch_close(socks):
    """Seconds until each hostile socket was closed by the server (None: still open)."""
    t0 = time.time()
    when = [None] * len(socks)
    while time.time() - t0 < CLOSE_WAIT_S and any(w is None for w in when):
        for i, s in enumerate(socks):
            if when[i] is None and closed_by_server(s):
                when[i] = time.time() - t0
        time.sleep(0.25)
    return when


def run(spec, kind):
    subj = B.Subject(spec, "probe")
    try:
        socks = open_hostile(subj.port, kind)
        time.sleep(1.0)
        lat, failed = [], 0
        cpu0 = subj.usage()[0]
        for _ in range(SCRAPES):
            ok, ms = scrape(subj.port)
            if ok:
                lat.append(ms)
            else:
                failed += 1
        cpu1, rss, _ = subj.usage()
        when = watch_close(socks)
        closed = [w for w in when if w is not None]
        B.result("abuse", spec["name"], kind=kind, hostile=len(socks), scrapes=SCRAPES,
                 failed=failed, p50_ms=B.pct(lat, 50), p99_ms=B.pct(lat, 99),
                 max_ms=max(lat) if lat else float("nan"),
                 cpu_ms_per_scrape=1000.0 * (cpu1 - cpu0) / SCRAPES, rss_MB=rss / 1e6,
                 closed=len(closed), closed_p50_s=B.pct(closed, 50) if closed else float("nan"),
                 closed_max_s=max(closed) if closed else float("nan"),
                 watched_s=CLOSE_WAIT_S)
        for s in socks:
            s.close()
    finally:
        subj.stop()


def main():
    for kind in KINDS:
        for spec in B.subjects("probe"):
            run(spec, kind)


if __name__ == "__main__":
    main()
