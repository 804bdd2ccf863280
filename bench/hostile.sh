#!/usr/bin/env bash
# bench/hostile.sh: peak memory of postmortemd for hostile Alertmanager bodies just under the 16 MiB
# body limit: one alert with one huge annotation (words, with names and e-mail addresses in it), and
# one alert with 50,000 labels. Each case runs on a freshly started postmortemd, without and with a
# people directory (--people-file), against its own redis-server; the figure is the process's peak
# resident memory (VmHWM) after the delivery, against its resident memory before it, and as a multiple
# of the body size. See BENCHMARKS.md.
#
#   bench/hostile.sh              # about a minute
#   OUT=/tmp/hostile bench/hostile.sh
#
# Needs go, redis-server, redis-cli, curl and python3. Listens on 127.0.0.1 only (never 6379).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/hostile-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
log() { printf '%s hostile.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pm-hostile.XXXXXX")
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {
	for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	log "gave up waiting for: $*"; exit 1
}

go build -o "$WORK/postmortemd" ./cmd/postmortemd
python3 - "$WORK" <<'PY'
import json, random, sys
work = sys.argv[1]
limit = 16 * 1024 * 1024 - 4096
rnd = random.Random(13)
words = ["latency", "checkout", "database", "replica", "timeout", "Dana", "Okafor", "page", "渡辺", "健二",
         "dana.okafor@example.com", "ops@example.org", "error", "rate", "above", "threshold", "for", "the", "api"]
def alert(labels, annotations):
    return {"status": "firing", "labels": labels, "annotations": annotations,
            "startsAt": "2026-11-23T13:28:22.671030777Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph", "fingerprint": "6c8eaeaf0b5c499e"}
def message(a):
    return {"receiver": "postmortemd", "status": "firing", "alerts": [a],
            "groupLabels": {"alertname": "Hostile"}, "commonLabels": {"alertname": "Hostile"},
            "commonAnnotations": {}, "externalURL": "http://127.0.0.1:19093", "version": "4",
            "groupKey": "{}:{alertname=\"Hostile\"}", "truncatedAlerts": 0}
base = len(json.dumps(message(alert({"alertname": "Hostile"}, {"description": ""})), ensure_ascii=False).encode())
parts, size = [], 0
while size < limit - base - 64:
    w = rnd.choice(words)
    parts.append(w)
    size += len(w.encode()) + 1
text = " ".join(parts)
text = text.encode()[: limit - base - 64].decode("utf-8", "ignore")
m = message(alert({"alertname": "Hostile"}, {"summary": "disk full", "description": text}))
open(work + "/annotation.json", "w").write(json.dumps(m, ensure_ascii=False, separators=(",", ":")))
labels = {"alertname": "Hostile"}
n = 50000
each = (limit - base) // n - 16
for i in range(n):
    labels["l%05d" % i] = "".join(rnd.choice("abcdefghij") for _ in range(each))
m = message(alert(labels, {"summary": "many labels"}))
open(work + "/labels.json", "w").write(json.dumps(m, separators=(",", ":")))
PY
cat >"$WORK/people.yaml" <<'YAML'
- name: Dana Okafor
  email: dana.okafor@example.com
  role: primary on-call for checkout-api
- name: 渡辺 健二
  role: secondary on-call
- name: Jamie Rivera
  email: jamie@example.com
  role: incident commander
YAML

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$WORK" \
	--logfile "$WORK/redis.log" &
PIDS+=($!)
wait_for redis-cli -p "$RPORT" ping

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
printf '%-12s %-10s %10s %10s %10s %12s %9s %s\n' body people body_MiB rss0_MiB peak_MiB peak-rss0 x_body status | tee "$OUT/summary.txt"
for people in none file; do
	for body in annotation labels; do
		args=()
		[[ $people == file ]] && args=(--people-file "$WORK/people.yaml")
		PORT=$(free_port)
		"$WORK/postmortemd" --listen "127.0.0.1:$PORT" --redis-url "redis://127.0.0.1:$RPORT/0" --log-level warn \
			"${args[@]}" >>"$OUT/postmortemd.log" 2>&1 &
		pid=$!
		PIDS+=($pid)
		wait_for curl -fsS --max-time 2 "http://127.0.0.1:$PORT/-/ready"
		rss0=$(kib "$pid" VmRSS)
		size=$(stat -c %s "$WORK/$body.json")
		status=$(curl -sS -o "$OUT/$body-$people.response" -w '%{http_code}' --max-time 120 \
			-H 'Content-Type: application/json' --data-binary "@$WORK/$body.json" \
			"http://127.0.0.1:$PORT/webhook/alertmanager")
		peak=$(kib "$pid" VmHWM)
		awk -v b="$size" -v r="$rss0" -v p="$peak" -v body="$body" -v people="$people" -v st="$status" 'BEGIN {
			printf "%-12s %-10s %10.1f %10.1f %10.1f %12.1f %9.2f %s\n", body, people, b/1048576, r/1024, p/1024, (p-r)/1024, (p-r)*1024/b, st }' |
			tee -a "$OUT/summary.txt"
		kill -TERM "$pid"
		wait "$pid" 2>/dev/null || true
		redis-cli -p "$RPORT" flushall >/dev/null
	done
done
log "results in $OUT"
