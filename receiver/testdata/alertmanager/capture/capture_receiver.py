#!/usr/bin/env python3
"""Tiny loopback webhook sink used to capture real Alertmanager notifications.

Every request is stored byte-for-byte:
  <outdir>/<seq>-<path-tag>.json          the raw request body, unmodified
  <outdir>/<seq>-<path-tag>.headers.txt   "<METHOD> <PATH> <PROTOCOL>" then one
                                          "Name: value" line per header, in the
                                          order and spelling received
and one line per request is appended to <outdir>/index.tsv
(seq, receive time UTC, method, path, body bytes).

Files are written to a temporary name and renamed; the body is renamed last, so
a visible .json always has its .headers.txt next to it.

Requests whose path starts with /slow/ are answered only after --slow-seconds
(default 3) -- used for the HA duplicate scenario. The body is saved before the
sleep. Every request is answered "200 OK" with an empty body.

Usage: capture_receiver.py --listen 127.0.0.1:19080 --out DIR
Only loopback addresses are accepted for --listen.
"""
import argparse
import datetime
import ipaddress
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_seq = 0


def next_seq():
    global _seq
    with _lock:
        _seq += 1
        return _seq


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive like a normal Go/HTTP server

    def _handle(self):
        received = datetime.datetime.now(datetime.timezone.utc)
        body = b""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            n = int(self.headers.get("Content-Length", "0") or 0)
            if n:
                body = self.rfile.read(n)

        seq = next_seq()
        tag = re.sub(r"[^A-Za-z0-9]+", "-", self.path.split("?")[0]).strip("-") or "root"
        base = os.path.join(self.server.outdir, "%04d-%s" % (seq, tag))
        lines = ["%s %s %s" % (self.command, self.path, self.request_version)]
        for k, v in self.headers.items():
            lines.append("%s: %s" % (k, v))
        with open(base + ".headers.txt.tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(base + ".headers.txt.tmp", base + ".headers.txt")
        with open(base + ".json.tmp", "wb") as f:
            f.write(body)
        os.rename(base + ".json.tmp", base + ".json")
        with _lock:
            with open(os.path.join(self.server.outdir, "index.tsv"), "a") as f:
                f.write("%04d\t%s\t%s\t%s\t%d\n" % (
                    seq, received.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    self.command, self.path, len(body)))

        if self.path.startswith("/slow/"):
            time.sleep(self.server.slow_seconds)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle

    def log_message(self, fmt, *args):  # quiet; index.tsv is the log
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:19080")
    ap.add_argument("--out", required=True)
    ap.add_argument("--slow-seconds", type=float, default=3.0)
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit("refusing to listen on non-loopback address %s" % host)
    os.makedirs(a.out, exist_ok=True)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.outdir = a.out
    srv.slow_seconds = a.slow_seconds
    print("capture receiver listening on http://%s:%s, writing to %s" % (host, port, a.out), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
