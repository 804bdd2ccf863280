#!/usr/bin/env bash
# bench/load.sh: load-test postmortemd against the bare Echo baseline (bench/bare) with wrk, on
# loopback, with a fresh redis-server of its own. See BENCHMARKS.md for what it measures and why.
#
#   bench/load.sh                 # defaults: whole run in about 2-3 minutes
#   bench/load.sh --long          # 60 s per (a) run, 3 alternating rounds, 30 s for (b) and (c)
#   DURATION=30 ROUNDS=2 bench/load.sh --only a
#
# Phases (in this order, each bounded in time):
#   (d) Redis memory per stored event: on the fresh redis-server, 10,000 new single-alert
#       notifications (01-first-firing with fresh fingerprint/startsAt) into 1 incident, into 100
#       incidents and into 1,000 incidents (FLUSHALL between layouts).
#   (c) seed one incident with 10,000 events (50 storms of 200 alerts), then GET its timeline on one
#       connection for READ_DURATION seconds: median and p99.
#   (a) single-alert notifications, each a new alert, over ALERT_GROUPS groupKeys, CONNS connections,
#       DURATION seconds against bare and postmortemd in turn (ROUNDS times, after a warm-up):
#       requests/s of both, ratio, p99.
#   (b) the 200-alert storm (10-storm-200-firing, every startsAt new on each request) on one
#       connection for STORM_DURATION seconds: p99 (and the bare server's, for scale).
#
# Settings (environment, or the flags below):
#   DURATION=20 WARMUP=3 ROUNDS=1 CONNS=64 THREADS=2 ALERT_GROUPS=100 STORM_DURATION=10
#   READ_DURATION=10 MEM_EVENTS=10000 ONLY=dcab OUT=bench/results/<UTC time> MAX_TOTAL=900 (seconds)
#   NOISY_PCT=15 (a run during which other processes used more CPU than this is flagged DISTURBED)
#   REDIS_ARGS="--stream-node-max-bytes 1024" (extra redis-server arguments, e.g. to try settings)
#   --long, --quick, --only <letters>, --duration <s>, --rounds <n>, --out <dir>
#
# Needs go, redis-server, redis-cli, curl and wrk (Debian: apt-get install wrk redis-server curl).
# Every process it starts listens on 127.0.0.1 on a free port (never 6379) and is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-1}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ALERT_GROUPS=${ALERT_GROUPS:-100}
STORM_DURATION=${STORM_DURATION:-10}
READ_DURATION=${READ_DURATION:-10}
MEM_EVENTS=${MEM_EVENTS:-10000}
ONLY=${ONLY:-dcab}
MAX_TOTAL=${MAX_TOTAL:-900}
NOISY_PCT=${NOISY_PCT:-15}
OUT=${OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
PAYLOADS=receiver/testdata/alertmanager/v0.25.0
SINGLE=$PAYLOADS/01-first-firing.json
STORM=$PAYLOADS/10-storm-200-firing.json

while [[ $# -gt 0 ]]; do
	case $1 in
	--long) DURATION=60 ROUNDS=3 STORM_DURATION=30 READ_DURATION=30 MAX_TOTAL=1800 ;;
	--quick) DURATION=5 WARMUP=1 STORM_DURATION=5 READ_DURATION=5 ;;
	--only) ONLY=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "load.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

log() { printf '%s load.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# --- tools ---------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing wrk with apt-get"
		apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	fi
	command -v wrk >/dev/null || die "wrk not found; install it (Debian: apt-get install wrk)"
fi
for t in go redis-server redis-cli curl awk; do
	command -v "$t" >/dev/null || die "$t not found"
done
for f in "$SINGLE" "$STORM"; do [[ -f $f ]] || die "missing payload $f"; done

# --- processes and cleanup -----------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pm-load.XXXXXX")
PIDS=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A watchdog bounds the whole run.
(
	trap 'kill "$sp" 2>/dev/null; exit 0' TERM
	sleep "$MAX_TOTAL" &
	sp=$!
	wait "$sp" && { log "MAX_TOTAL=${MAX_TOTAL}s reached, stopping"; kill -TERM $$; }
) &
PIDS+=($!)

USED_PORTS=" 6379 "
free_port() {
	local p
	for _ in $(seq 500); do
		p=$(( (RANDOM * 32768 + RANDOM) % 30000 + 20000 ))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS+="$p "
			echo "$p"
			return 0
		fi
	done
	return 1
}

wait_for() { # wait_for <what> <seconds> <command...>
	local what=$1 secs=$2
	shift 2
	for _ in $(seq $((secs * 10))); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	die "$what did not come up within ${secs}s"
}

mkdir -p "$OUT"
log "results in $OUT"

log "building cmd/postmortemd and bench/bare"
go build -o "$WORK/postmortemd" ./cmd/postmortemd
go build -o "$WORK/bare" ./bench/bare

RPORT=$(free_port)
# shellcheck disable=SC2086 # REDIS_ARGS is a list of arguments
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	--dir "$WORK" --logfile "$WORK/redis.log" ${REDIS_ARGS:-} &
PIDS+=($!)
RPID=$!
rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
wait_for "redis-server on $RPORT" 15 rcli ping

PPORT=$(free_port)
"$WORK/postmortemd" --listen "127.0.0.1:$PPORT" --redis-url "redis://127.0.0.1:$RPORT/0" \
	--log-level warn >"$OUT/postmortemd.log" 2>&1 &
PIDS+=($!)
PPID_SVC=$!
SVC=http://127.0.0.1:$PPORT
wait_for "postmortemd on $PPORT" 30 curl -fsS --max-time 2 "$SVC/-/ready"

BPORT=$(free_port)
"$WORK/bare" --listen "127.0.0.1:$BPORT" >"$OUT/bare.log" 2>&1 &
PIDS+=($!)
BPID=$!
BARE=http://127.0.0.1:$BPORT
wait_for "bare on $BPORT" 15 curl -fsS --max-time 2 "$BARE/-/healthy"

{
	echo "date: $(date -u +%FT%TZ)"
	echo "nproc: $(nproc)"
	echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "go: $(go version)"
	echo "redis: $(redis-server --version)"
	echo "wrk: $(wrk -v 2>&1 | head -1)"
	echo "redis-server extra arguments: ${REDIS_ARGS:-none}"
	echo "settings: DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS CONNS=$CONNS THREADS=$THREADS ALERT_GROUPS=$ALERT_GROUPS STORM_DURATION=$STORM_DURATION READ_DURATION=$READ_DURATION MEM_EVENTS=$MEM_EVENTS"
} | tee "$OUT/machine.txt" >&2

# field <name> <file>: a value from the RESULT line wrk printed.
field() { sed -n "s/.*RESULT .*\b$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
# cpu_ticks <pid>: user+system clock ticks the process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# sys_ticks: "<busy> <total>" clock ticks of the whole machine so far (idle and iowait are not busy).
sys_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
fmt() { awk -v v="$1" -v f="${2:-%.1f}" 'BEGIN { if (v == "") print "-"; else printf f, v }'; }
RUN=$(( $(date +%s) % 60000 ))
next_run() { RUN=$(( (RUN + 1) % 65536 )); }

# wrkrun <name> <seconds> <threads> <conns> <script> <url> [-- args...]: runs wrk, bounded, into
# $OUT/<name>.txt, and records the CPU that postmortemd, redis-server, bare and wrk used.
wrkrun() {
	local name=$1 secs=$2 threads=$3 conns=$4 script=$5 url=$6
	shift 6
	local p0 r0 b0 s0
	p0=$(cpu_ticks $PPID_SVC); r0=$(cpu_ticks $RPID); b0=$(cpu_ticks $BPID); s0=$(sys_ticks)
	local t0=$SECONDS
	{
		TIMEFORMAT='WRKCPU %U %S'
		time timeout $((secs + 30)) wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 10s --latency \
			-s "$script" "$url" "$@"
	} >"$OUT/$name.txt" 2>&1 || log "wrk $name exited with $? (see $OUT/$name.txt)"
	local el=$((SECONDS - t0))
	local hz
	hz=$(getconf CLK_TCK)
	local s1
	s1=$(sys_ticks)
	awk -v p=$(( $(cpu_ticks $PPID_SVC) - p0 )) -v r=$(( $(cpu_ticks $RPID) - r0 )) \
		-v b=$(( $(cpu_ticks $BPID) - b0 )) -v hz="$hz" -v el="$el" -v s0="$s0" -v s1="$s1" \
		'/^WRKCPU/ { w = $2 + $3 } /^RESULT/ { split($2, kv, "="); req = kv[2] } END { if (el < 1) el = 1;
		split(s0, a, " "); split(s1, z, " "); busy = (z[1] - a[1]) / hz; all = (z[2] - a[2]) / hz
		other = busy - (p + r + b) / hz - w; if (other < 0) other = 0
		printf "CPU postmortemd=%.0f%% redis=%.0f%% bare=%.0f%% wrk=%.0f%% other-processes=%.0f%% idle=%.0f%% (of one core, over %ds)\n",
		100*p/hz/el, 100*r/hz/el, 100*b/hz/el, 100*w/el, 100*other/el, 100*(all-busy)/el, el
		if (req > 0) printf "CPU-per-request postmortemd=%.0fus redis=%.0fus bare=%.0fus\n", 1e6*p/hz/req, 1e6*r/hz/req, 1e6*b/hz/req }' \
		"$OUT/$name.txt" >>"$OUT/$name.txt"
	local other
	other=$(sed -n 's/.*other-processes=\([0-9]*\)%.*/\1/p' "$OUT/$name.txt")
	if [[ $name != *warmup* && ${other:-0} -gt $NOISY_PCT ]]; then
		NOISY+="$name(${other}%) "
		log "WARNING: other processes used ${other}% of a core during $name; its figures are disturbed"
	fi
	if grep -q 'RESULT' "$OUT/$name.txt"; then
		log "$name: $(sed -n 's/^RESULT //p' "$OUT/$name.txt" | cut -d' ' -f3-6) $(grep '^CPU' "$OUT/$name.txt" | tr '\n' ' ')"
	fi
}

# seedrun <name> <threads> <conns> [-- args...]: runs bench/seed.lua until every thread has had its
# <limit> responses (each prints an INCIDENT line), then stops wrk (its duration is only a bound).
seedrun() {
	local name=$1 threads=$2 conns=$3
	shift 3
	wrk -t"$threads" -c"$conns" -d300s --timeout 10s -s bench/seed.lua "$@" >"$OUT/$name.txt" 2>&1 &
	local pid=$!
	PIDS+=($pid)
	local t0=$SECONDS
	while kill -0 "$pid" 2>/dev/null; do
		if [[ $(grep -c '^INCIDENT' "$OUT/$name.txt") -ge $threads ]]; then
			kill -INT "$pid" 2>/dev/null || true
			break
		fi
		if ((SECONDS - t0 > 300)); then log "$name: not done after 300s"; kill -INT "$pid"; break; fi
		sleep 0.2
	done
	wait "$pid" 2>/dev/null || true
	local ok bad
	ok=$(sed -n 's/^INCIDENT .*responses=\([0-9]*\).*/\1/p' "$OUT/$name.txt" | awk '{s += $1} END {print s + 0}')
	bad=$(sed -n 's/^INCIDENT .*non200=\([0-9]*\).*/\1/p' "$OUT/$name.txt" | awk '{s += $1} END {print s + 0}')
	log "$name: $ok responses, $bad not 200, in $((SECONDS - t0))s"
	[[ $bad == 0 ]] || die "$name: $bad requests failed (see $OUT/$name.txt and $OUT/postmortemd.log)"
}

used_memory() { rcli info memory | awk -F: '/^used_memory:/ {print $2+0}'; }
# key_bytes <pattern>: MEMORY USAGE (exact, SAMPLES 0) summed over the matching keys.
key_bytes() {
	rcli --scan --pattern "$1" | awk '{print "MEMORY USAGE " $0 " SAMPLES 0"}' | rcli |
		awk '{s += $1} END {print s + 0}'
}
stream_events() {
	rcli --scan --pattern '*:e' | awk '{print "XLEN " $0}' | rcli | awk '{s += $1} END {print s + 0}'
}

declare -A R
NOISY=""

# --- (d) memory per event ------------------------------------------------------------------------
if [[ $ONLY == *d* ]]; then
	for layout in 1 100 1000; do
		rcli flushall >/dev/null
		sleep 0.2
		before=$(used_memory)
		next_run
		per=$((MEM_EVENTS / 2))
		seedrun "d-memory-$layout" 2 2 "$SVC/webhook/alertmanager" -- \
			"$SINGLE" single "$layout" "$RUN" "Mem" "$per"
		after=$(used_memory)
		events=$(stream_events)
		[[ $events -gt 0 ]] || die "(d) stored no events (see $OUT/d-memory-$layout.txt)"
		all=$(key_bytes '*')
		dedupe=$(key_bytes '*:g:*')
		streams=$(key_bytes '*:e')
		R[d_$layout]=$(awk -v a="$all" -v n="$events" 'BEGIN {printf "%.0f", a/n}')
		R[d_used_$layout]=$(awk -v a="$after" -v b="$before" -v n="$events" 'BEGIN {printf "%.0f", (a-b)/n}')
		R[d_stream_$layout]=$(awk -v a="$streams" -v n="$events" 'BEGIN {printf "%.0f", a/n}')
		R[d_dedupe_$layout]=$(awk -v a="$dedupe" -v n="$events" 'BEGIN {printf "%.0f", a/n}')
		R[d_events_$layout]=$events
		log "(d) $layout incident(s): $events events, ${R[d_$layout]} B/event by MEMORY USAGE (stream ${R[d_stream_$layout]}, dedupe ${R[d_dedupe_$layout]}), ${R[d_used_$layout]} B/event by used_memory"
	done
	rcli flushall >/dev/null
fi

# --- (c) timeline read ---------------------------------------------------------------------------
if [[ $ONLY == *c* ]]; then
	next_run
	seedrun c-seed 1 1 "$SVC/webhook/alertmanager" -- \
		"$STORM" storm 1 "$RUN" "TimelineSeed$RUN" 50
	ID=$(sed -n 's/^INCIDENT \([^ ]*\).*/\1/p' "$OUT/c-seed.txt" | tail -1)
	[[ -n $ID ]] || die "(c) seeding gave no incident id (see $OUT/c-seed.txt)"
	count=$(curl -fsS --max-time 10 "$SVC/api/v1/incidents/$ID" | sed -n 's/.*"event_count":\([0-9]*\).*/\1/p')
	# The first read finds the store's in-process read cache cold (one sample, for scale); wrk's
	# reads after it fetch only what was appended since (nothing: the incident does not change).
	read -r size cold < <(curl -fsS --max-time 30 -o /dev/null -w '%{size_download} %{time_total}\n' \
		"$SVC/api/v1/incidents/$ID/timeline")
	log "(c) incident $ID has $count events; its timeline is $size bytes; first (cold) read ${cold}s"
	R[c_events]=$count
	R[c_size]=$size
	R[c_cold]=$(awk -v t="$cold" 'BEGIN {printf "%.1f", t * 1000}')
	wrkrun c-read "$READ_DURATION" 1 1 bench/read.lua "$SVC/api/v1/incidents/$ID/timeline"
	R[c_p50]=$(field p50_ms "$OUT/c-read.txt")
	R[c_p99]=$(field p99_ms "$OUT/c-read.txt")
	R[c_rps]=$(field rps "$OUT/c-read.txt")
fi

# --- (a) single-alert notifications at CONNS connections -------------------------------------------
if [[ $ONLY == *a* ]]; then
	for round in $(seq "$ROUNDS"); do
		for target in bare postmortemd; do
			url=$BARE/webhook/alertmanager
			[[ $target == postmortemd ]] && url=$SVC/webhook/alertmanager
			next_run
			wrkrun "a-warmup-$target-$round" "$WARMUP" "$THREADS" "$CONNS" bench/webhook.lua "$url" -- \
				"$SINGLE" single "$ALERT_GROUPS" "$RUN" Load
			next_run
			wrkrun "a-$target-$round" "$DURATION" "$THREADS" "$CONNS" bench/webhook.lua "$url" -- \
				"$SINGLE" single "$ALERT_GROUPS" "$RUN" Load
		done
	done
	# Rounds are summed: requests/s over all rounds, the worst p99 of any round.
	for target in bare postmortemd; do
		R[a_rps_$target]=$(cat "$OUT"/a-$target-*.txt | awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			req += v["requests"]; s += v["duration_s"]; bad += v["non2xx"] + v["sockerr"] }
			END { if (s > 0) printf "%.0f", req / s }')
		R[a_p99_$target]=$(cat "$OUT"/a-$target-*.txt | sed -n 's/.*RESULT .*p99_ms=\([^ ]*\).*/\1/p' | sort -g | tail -1)
		R[a_p50_$target]=$(cat "$OUT"/a-$target-*.txt | sed -n 's/.*RESULT .*p50_ms=\([^ ]*\).*/\1/p' | sort -g | tail -1)
		R[a_err_$target]=$(cat "$OUT"/a-$target-*.txt | awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } bad += v["non2xx"] + v["sockerr"] } END { print bad + 0 }')
	done
	R[a_ratio]=$(awk -v s="${R[a_rps_postmortemd]:-0}" -v b="${R[a_rps_bare]:-0}" 'BEGIN { if (b > 0) printf "%.1f", 100 * s / b }')
fi

# --- (b) 200-alert storm on one connection -------------------------------------------------------
if [[ $ONLY == *b* ]]; then
	for target in bare postmortemd; do
		url=$BARE/webhook/alertmanager
		[[ $target == postmortemd ]] && url=$SVC/webhook/alertmanager
		next_run
		wrkrun "b-warmup-$target" 2 1 1 bench/webhook.lua "$url" -- "$STORM" storm 1 "$RUN" "Storm$RUN"
		next_run
		wrkrun "b-$target" "$STORM_DURATION" 1 1 bench/webhook.lua "$url" -- "$STORM" storm 1 "$RUN" "Storm$RUN"
		R[b_p50_$target]=$(field p50_ms "$OUT/b-$target.txt")
		R[b_p99_$target]=$(field p99_ms "$OUT/b-$target.txt")
		R[b_rps_$target]=$(field rps "$OUT/b-$target.txt")
	done
fi

# --- summary -------------------------------------------------------------------------------------
verdict() { # verdict <value> <op> <limit>
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v == "") { print "-"; exit }
		ok = (op == "<=") ? (v + 0 <= l + 0) : (v + 0 >= l + 0); print ok ? "PASS" : "MISS" }'
}
{
	echo
	echo "postmortemd load test, $(date -u +%FT%TZ), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))"
	printf '%-44s %12s %12s %9s  %-22s %s\n' measure bare postmortemd ratio target result
	if [[ $ONLY == *a* ]]; then
		printf '%-44s %12s %12s %8s%%  %-22s %s\n' "(a) 1-alert webhooks req/s, $CONNS conns" "${R[a_rps_bare]}" \
			"${R[a_rps_postmortemd]}" "${R[a_ratio]}" ">= 15% of bare" "$(verdict "${R[a_ratio]}" '>=' 15)"
		printf '%-44s %12s %12s %9s  %-22s %s\n' "(a) p50 ms" "$(fmt "${R[a_p50_bare]}" %.2f)" \
			"$(fmt "${R[a_p50_postmortemd]}" %.2f)" "" "" ""
		printf '%-44s %12s %12s %9s  %-22s %s\n' "(a) p99 ms" "$(fmt "${R[a_p99_bare]}" %.2f)" \
			"$(fmt "${R[a_p99_postmortemd]}" %.2f)" "" "<= 30 ms" "$(verdict "${R[a_p99_postmortemd]}" '<=' 30)"
		printf '%-44s %12s %12s\n' "(a) failed requests (non-2xx, socket)" "${R[a_err_bare]}" "${R[a_err_postmortemd]}"
	fi
	if [[ $ONLY == *b* ]]; then
		printf '%-44s %12s %12s %9s  %-22s %s\n' "(b) 200-alert storm req/s, 1 conn" "$(fmt "${R[b_rps_bare]}")" \
			"$(fmt "${R[b_rps_postmortemd]}")" "" "" ""
		printf '%-44s %12s %12s %9s  %-22s %s\n' "(b) 200-alert storm p50 ms" "$(fmt "${R[b_p50_bare]}" %.2f)" \
			"$(fmt "${R[b_p50_postmortemd]}" %.2f)" "" "" ""
		printf '%-44s %12s %12s %9s  %-22s %s\n' "(b) 200-alert storm p99 ms" "$(fmt "${R[b_p99_bare]}" %.2f)" \
			"$(fmt "${R[b_p99_postmortemd]}" %.2f)" "" "<= 20 ms" "$(verdict "${R[b_p99_postmortemd]}" '<=' 20)"
	fi
	if [[ $ONLY == *c* ]]; then
		printf '%-44s %12s %12s %9s  %-22s %s\n' "(c) timeline read median ms (${R[c_events]} ev, $(( ${R[c_size]:-0} / 1024 )) KiB)" "" \
			"$(fmt "${R[c_p50]}" %.1f)" "" "<= 50 ms" "$(verdict "${R[c_p50]}" '<=' 50)"
		printf '%-44s %12s %12s\n' "(c) timeline read p99 ms" "" "$(fmt "${R[c_p99]}" %.1f)"
		printf '%-44s %12s %12s\n' "(c) first read, read cache cold, ms (1 sample)" "" "${R[c_cold]}"
	fi
	if [[ $ONLY == *d* ]]; then
		for layout in 1 100 1000; do
			printf '%-44s %12s %12s %9s  %-22s %s\n' "(d) B/event, ${R[d_events_$layout]} ev in $layout incident(s)" "" \
				"${R[d_$layout]}" "" "<= 600" "$(verdict "${R[d_$layout]}" '<=' 600)"
			printf '%-44s %12s %12s\n' "    stream / dedupe / used_memory delta" "" \
				"${R[d_stream_$layout]}/${R[d_dedupe_$layout]}/${R[d_used_$layout]}"
		done
	fi
	if [[ -n $NOISY ]]; then
		echo "DISTURBED: other processes used more than ${NOISY_PCT}% of a core during: $NOISY"
		echo "  (figures of those runs are pessimistic; rerun on a quiet machine)"
	fi
	echo "raw wrk output and CPU use per run: $OUT"
} | tee "$OUT/summary.txt"
