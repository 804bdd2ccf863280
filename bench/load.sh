#!/usr/bin/env bash
# bench/load.sh: load-test postmortemd against the minimal handler (bench/minimal: Echo v4 +
# go-redis v9, encoding/json decode, one pipelined XADD + SET NX per alert, no idempotency, no
# incident) with wrk, on loopback, with a fresh redis-server of its own. Every figure is reported
# as a ratio to the minimal handler's in the same run. See BENCHMARKS.md.
#
#   bench/load.sh                 # defaults: whole run in about 5 minutes
#   bench/load.sh --long          # 60 s per ingest run, 3 alternating rounds
#   DURATION=30 ROUNDS=2 bench/load.sh --only a
#
# Phases (in this order, each bounded in time):
#   (d) Redis memory per stored event, for postmortemd and for the minimal handler, each on a
#       flushed Redis: "long" = LONG_STORMS storms of the same 200 alerts into one group, each post a
#       new occurrence of every alert (long timelines); "new" = MEM_EVENTS single-alert
#       notifications, every one a new alert (fresh fingerprint and startsAt) over MEM_GROUPS groups.
#       MEMORY USAGE (SAMPLES 0) summed over every key, and the used_memory delta.
#   (c) seed one incident with 10,000 events (50 storms of 200 alerts); then COLD_READS times:
#       restart postmortemd and time the first GET of the timeline (median = the cold read); then
#       GET it on one connection for READ_DURATION seconds (warm: median and p99).
#   (a) ingest at CONNS connections, minimal handler and postmortemd alternating (ROUNDS times,
#       each after a warm-up), every request new alerts: "a1" single-alert notifications over
#       ALERT_GROUPS groupKeys; "a20" 20-alert notifications (the first 20 alerts of the captured
#       200-alert storm, every startsAt new on each request). Requests/s ratio, p99 ratio, errors,
#       CPU per request of the server and of redis-server.
#   (b) the 200-alert storm on one connection for STORM_DURATION seconds, both servers.
#
# Settings (environment, or the flags below):
#   DURATION=20 WARMUP=3 ROUNDS=1 CONNS=64 THREADS=2 ALERT_GROUPS=100 STORM_DURATION=10
#   READ_DURATION=10 COLD_READS=5 MEM_EVENTS=100000 MEM_GROUPS=100 LONG_STORMS=500 ONLY=dcab
#   OUT=bench/results/<UTC time> MAX_TOTAL=1200 (seconds)
#   NOISY_PCT=15 (a run during which other processes used more CPU than this is flagged DISTURBED)
#   BARE=1 also runs the old baseline (bench/bare: reads the body, answers 200) in (a), for scale
#   REDIS_ARGS="--stream-node-max-bytes 1024" (extra redis-server arguments, e.g. to try settings)
#   SVC_ARGS="..." (extra postmortemd arguments, e.g. --people-file)
#   --long, --quick, --only <letters>, --duration <s>, --rounds <n>, --out <dir>
#
# Needs go, redis-server, redis-cli, curl, python3 and wrk (Debian: apt-get install wrk redis-server curl).
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
COLD_READS=${COLD_READS:-5}
MEM_EVENTS=${MEM_EVENTS:-100000}
MEM_GROUPS=${MEM_GROUPS:-100}
LONG_STORMS=${LONG_STORMS:-500}
ONLY=${ONLY:-dcab}
MAX_TOTAL=${MAX_TOTAL:-1200}
NOISY_PCT=${NOISY_PCT:-15}
BARE=${BARE:-0}
OUT=${OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
PAYLOADS=receiver/testdata/alertmanager/v0.25.0
SINGLE=$PAYLOADS/01-first-firing.json
STORM=$PAYLOADS/10-storm-200-firing.json

while [[ $# -gt 0 ]]; do
	case $1 in
	--long) DURATION=60 ROUNDS=3 STORM_DURATION=30 READ_DURATION=30 MAX_TOTAL=2400 ;;
	--quick) DURATION=5 WARMUP=1 STORM_DURATION=5 READ_DURATION=5 MEM_EVENTS=10000 LONG_STORMS=50 COLD_READS=3 ;;
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
for t in go redis-server redis-cli curl awk python3; do
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

log "building cmd/postmortemd, bench/minimal and bench/bare"
go build -o "$WORK/postmortemd" ./cmd/postmortemd
go build -o "$WORK/minimal" ./bench/minimal
go build -o "$WORK/bare" ./bench/bare
# The 20-alert notification: the first 20 alerts of the captured 200-alert storm (same groupKey,
# labels and annotations), the rest of the payload as captured.
STORM20=$WORK/storm-20-firing.json
python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); m["alerts"] = m["alerts"][:20]
json.dump(m, open(sys.argv[2], "w"), separators=(",", ":"), ensure_ascii=False)' "$STORM" "$STORM20"

RPORT=$(free_port)
# shellcheck disable=SC2086 # REDIS_ARGS is a list of arguments
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	--dir "$WORK" --logfile "$WORK/redis.log" ${REDIS_ARGS:-} &
PIDS+=($!)
RPID=$!
rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
wait_for "redis-server on $RPORT" 15 rcli ping

PPORT=$(free_port)
SVC=http://127.0.0.1:$PPORT
start_svc() {
	# shellcheck disable=SC2086 # SVC_ARGS is a list of arguments
	"$WORK/postmortemd" --listen "127.0.0.1:$PPORT" --redis-url "redis://127.0.0.1:$RPORT/0" \
		--log-level warn ${SVC_ARGS:-} >>"$OUT/postmortemd.log" 2>&1 &
	PIDS+=($!)
	PPID_SVC=$!
	wait_for "postmortemd on $PPORT" 30 curl -fsS --max-time 2 "$SVC/-/ready"
}
stop_svc() {
	kill -TERM "$PPID_SVC" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$PPID_SVC" 2>/dev/null || break; sleep 0.1; done
	wait "$PPID_SVC" 2>/dev/null || true
}
start_svc

MPORT=$(free_port)
"$WORK/minimal" --listen "127.0.0.1:$MPORT" --redis-url "redis://127.0.0.1:$RPORT/0" >"$OUT/minimal.log" 2>&1 &
PIDS+=($!)
MPID=$!
MIN=http://127.0.0.1:$MPORT
wait_for "minimal on $MPORT" 15 curl -fsS --max-time 2 "$MIN/-/healthy"

BPORT=$(free_port)
"$WORK/bare" --listen "127.0.0.1:$BPORT" >"$OUT/bare.log" 2>&1 &
PIDS+=($!)
BPID=$!
BAREURL=http://127.0.0.1:$BPORT
wait_for "bare on $BPORT" 15 curl -fsS --max-time 2 "$BAREURL/-/healthy"

{
	echo "date: $(date -u +%FT%TZ)"
	echo "nproc: $(nproc)"
	echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "go: $(go version)"
	echo "redis: $(redis-server --version)"
	echo "wrk: $(wrk -v 2>&1 | head -1)"
	echo "redis-server extra arguments: ${REDIS_ARGS:-none}"
	echo "settings: DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS CONNS=$CONNS THREADS=$THREADS ALERT_GROUPS=$ALERT_GROUPS STORM_DURATION=$STORM_DURATION READ_DURATION=$READ_DURATION COLD_READS=$COLD_READS MEM_EVENTS=$MEM_EVENTS MEM_GROUPS=$MEM_GROUPS LONG_STORMS=$LONG_STORMS SVC_ARGS=${SVC_ARGS:-}"
} | tee "$OUT/machine.txt" >&2

# field <name> <file>: a value from the RESULT line wrk printed.
field() { sed -n "s/.*RESULT .*\b$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
# cpu_ticks <pid>: user+system clock ticks the process has used.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# cpu_ns <pid>: nanoseconds on CPU of all the process's threads (schedstat: precise under load,
# unlike wall-clock time, which other processes on this machine stretch).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
# sys_ticks: "<busy> <total>" clock ticks of the whole machine so far (idle and iowait are not busy).
sys_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
fmt() { awk -v v="$1" -v f="${2:-%.1f}" 'BEGIN { if (v == "") print "-"; else printf f, v }'; }
RUN=$(( $(date +%s) % 60000 ))
next_run() { RUN=$(( (RUN + 1) % 65536 )); }

# wrkrun <name> <seconds> <threads> <conns> <script> <url> [-- args...]: runs wrk, bounded, into
# $OUT/<name>.txt, and records the CPU that postmortemd, the minimal handler, redis-server, bare and
# wrk used, in total and per request.
wrkrun() {
	local name=$1 secs=$2 threads=$3 conns=$4 script=$5 url=$6
	shift 6
	local p0 r0 b0 m0 s0
	p0=$(cpu_ticks $PPID_SVC); r0=$(cpu_ticks $RPID); b0=$(cpu_ticks $BPID); m0=$(cpu_ticks $MPID); s0=$(sys_ticks)
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
		-v b=$(( $(cpu_ticks $BPID) - b0 )) -v m=$(( $(cpu_ticks $MPID) - m0 )) -v hz="$hz" -v el="$el" -v s0="$s0" -v s1="$s1" \
		'/^WRKCPU/ { w = $2 + $3 } /^RESULT/ { split($2, kv, "="); req = kv[2] } END { if (el < 1) el = 1;
		split(s0, a, " "); split(s1, z, " "); busy = (z[1] - a[1]) / hz; all = (z[2] - a[2]) / hz
		other = busy - (p + r + b + m) / hz - w; if (other < 0) other = 0
		printf "CPU postmortemd=%.0f%% minimal=%.0f%% redis=%.0f%% bare=%.0f%% wrk=%.0f%% other-processes=%.0f%% idle=%.0f%% (of one core, over %ds)\n",
		100*p/hz/el, 100*m/hz/el, 100*r/hz/el, 100*b/hz/el, 100*w/el, 100*other/el, 100*(all-busy)/el, el
		if (req > 0) printf "CPU-per-request postmortemd=%.0fus minimal=%.0fus redis=%.0fus bare=%.0fus wrk=%.0fus\n", 1e6*p/hz/req, 1e6*m/hz/req, 1e6*r/hz/req, 1e6*b/hz/req, 1e6*w/req }' \
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
	[[ $bad == 0 ]] || die "$name: $bad requests failed (see $OUT/$name.txt, $OUT/postmortemd.log and $OUT/minimal.log)"
}

used_memory() { rcli info memory | awk -F: '/^used_memory:/ {print $2+0}'; }
# key_bytes <pattern>: MEMORY USAGE (exact, SAMPLES 0) summed over the matching keys.
key_bytes() {
	rcli --scan --pattern "$1" | awk '{print "MEMORY USAGE " $0 " SAMPLES 0"}' | rcli |
		awk '{s += $1} END {print s + 0}'
}
# stream_events <pattern>: entries in the matching streams.
stream_events() {
	rcli --scan --pattern "$1" | awk '{print "XLEN " $0}' | rcli | awk '{s += $1} END {print s + 0}'
}

declare -A R
NOISY=""

# cpu_per_req <target> <files...>: the mean over runs of "CPU-per-request <target>=Nus".
cpu_per_req() {
	local t=$1
	shift
	cat "$@" | sed -n "s/^CPU-per-request .*\b$t=\([0-9]*\)us.*/\1/p" | awk '{s += $1; n++} END { if (n) printf "%.0f", s / n }'
}

# --- (d) memory per event ------------------------------------------------------------------------
# memrun <layout> <target>: flushes Redis, stores the layout's events through the target, and sets
# R[d_<what>_<layout>_<target>].
memrun() {
	local layout=$1 target=$2 url pattern
	url=$SVC/webhook/alertmanager
	pattern='*:i:*:e'
	if [[ $target == minimal ]]; then url=$MIN/webhook/alertmanager; pattern='min:a:*'; fi
	rcli flushall >/dev/null
	sleep 0.2
	local before after
	before=$(used_memory)
	next_run
	if [[ $layout == long ]]; then
		seedrun "d-$layout-$target" 1 1 "$url" -- "$STORM" storm 1 "$RUN" "Long$RUN" "$LONG_STORMS"
	else
		seedrun "d-$layout-$target" 2 8 "$url" -- "$SINGLE" single "$MEM_GROUPS" "$RUN" "Mem$RUN" $((MEM_EVENTS / 2))
	fi
	after=$(used_memory)
	local events all
	events=$(stream_events "$pattern")
	[[ $events -gt 0 ]] || die "(d) $target stored no events (see $OUT/d-$layout-$target.txt)"
	all=$(key_bytes '*')
	per() { awk -v a="$1" -v n="$events" 'BEGIN {printf "%.0f", a/n}'; }
	R[d_${layout}_$target]=$(per "$all")
	R[d_used_${layout}_$target]=$(per $((after - before)))
	R[d_events_${layout}_$target]=$events
	if [[ $target == postmortemd ]]; then
		R[d_stream_$layout]=$(per "$(key_bytes '*:i:*:e')")
		R[d_dedupe_$layout]=$(per "$(key_bytes '*:g:*')")
		R[d_rest_$layout]=$(per $((all - $(key_bytes '*:i:*:e') - $(key_bytes '*:g:*'))))
		log "(d) $layout, postmortemd: $events events, ${R[d_${layout}_$target]} B/event by MEMORY USAGE (stream ${R[d_stream_$layout]}, dedupe ${R[d_dedupe_$layout]}, incidents and the rest ${R[d_rest_$layout]}), ${R[d_used_${layout}_$target]} B/event by used_memory"
	else
		log "(d) $layout, minimal: $events events, ${R[d_${layout}_$target]} B/event by MEMORY USAGE, ${R[d_used_${layout}_$target]} B/event by used_memory"
	fi
}
if [[ $ONLY == *d* ]]; then
	for layout in long new; do
		for target in postmortemd minimal; do memrun "$layout" "$target"; done
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
	# Cold: the first read after a restart finds the store's in-process read cache empty.
	colds=() coldcpu=() coldrcpu=()
	for i in $(seq "$COLD_READS"); do
		stop_svc
		start_svc
		sleep 1 # let start-up work settle, so the CPU counted below is the read's
		c0=$(cpu_ns $PPID_SVC) r0=$(cpu_ns $RPID)
		read -r size cold < <(curl -fsS --max-time 30 -o /dev/null -w '%{size_download} %{time_total}\n' \
			"$SVC/api/v1/incidents/$ID/timeline")
		colds+=("$cold")
		coldcpu+=("$(( ($(cpu_ns $PPID_SVC) - c0) / 1000000 ))")
		coldrcpu+=("$(( ($(cpu_ns $RPID) - r0) / 1000000 ))")
	done
	printf 'wall_s=%s service_cpu_ms=%s redis_cpu_ms=%s\n' "${colds[*]}" "${coldcpu[*]}" "${coldrcpu[*]}" >"$OUT/c-cold.txt"
	R[c_cold_cpu]=$(printf '%s\n' "${coldcpu[@]}" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
	R[c_cold_rcpu]=$(printf '%s\n' "${coldrcpu[@]}" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
	R[c_cold]=$(printf '%s\n' "${colds[@]}" | sort -g | awk '{v[NR] = $1} END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m * 1000 }')
	R[c_cold_range]=$(printf '%s\n' "${colds[@]}" | sort -g | awk 'NR == 1 {a = $1} {b = $1} END {printf "%.0f-%.0f", a * 1000, b * 1000}')
	log "(c) incident $ID has $count events; its timeline is $size bytes; cold reads ${colds[*]} s (median ${R[c_cold]} ms)"
	R[c_events]=$count
	R[c_size]=$size
	wrkrun c-read "$READ_DURATION" 1 1 bench/read.lua "$SVC/api/v1/incidents/$ID/timeline"
	R[c_p50]=$(field p50_ms "$OUT/c-read.txt")
	R[c_p99]=$(field p99_ms "$OUT/c-read.txt")
	R[c_rps]=$(field rps "$OUT/c-read.txt")
fi

# --- (a) ingest at CONNS connections -------------------------------------------------------------
TARGETS="minimal postmortemd"
[[ $BARE == 1 ]] && TARGETS="bare $TARGETS"
target_url() {
	case $1 in
	bare) echo "$BAREURL/webhook/alertmanager" ;;
	minimal) echo "$MIN/webhook/alertmanager" ;;
	*) echo "$SVC/webhook/alertmanager" ;;
	esac
}
if [[ $ONLY == *a* ]]; then
	for round in $(seq "$ROUNDS"); do
		for wl in a1 a20; do
			payload=$SINGLE mode=single
			[[ $wl == a20 ]] && payload=$STORM20 mode=storm
			for target in $TARGETS; do
				url=$(target_url "$target")
				next_run
				wrkrun "$wl-warmup-$target-$round" "$WARMUP" "$THREADS" "$CONNS" bench/webhook.lua "$url" -- \
					"$payload" "$mode" "$ALERT_GROUPS" "$RUN" "Load$wl"
				next_run
				wrkrun "$wl-$target-$round" "$DURATION" "$THREADS" "$CONNS" bench/webhook.lua "$url" -- \
					"$payload" "$mode" "$ALERT_GROUPS" "$RUN" "Load$wl"
			done
		done
	done
	# Rounds are summed: requests/s over all rounds, the worst p99 of any round.
	for wl in a1 a20; do
		for target in $TARGETS; do
			files=("$OUT"/$wl-$target-*.txt)
			R[${wl}_rps_$target]=$(cat "${files[@]}" | awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
				req += v["requests"]; s += v["duration_s"] } END { if (s > 0) printf "%.0f", req / s }')
			R[${wl}_p99_$target]=$(cat "${files[@]}" | sed -n 's/.*RESULT .*p99_ms=\([^ ]*\).*/\1/p' | sort -g | tail -1)
			R[${wl}_p50_$target]=$(cat "${files[@]}" | sed -n 's/.*RESULT .*p50_ms=\([^ ]*\).*/\1/p' | sort -g | tail -1)
			R[${wl}_err_$target]=$(cat "${files[@]}" | awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } bad += v["non2xx"] + v["sockerr"] } END { print bad + 0 }')
			R[${wl}_cpu_$target]=$(cpu_per_req "$target" "${files[@]}")
			R[${wl}_rcpu_$target]=$(cpu_per_req redis "${files[@]}")
		done
		R[${wl}_ratio]=$(awk -v s="${R[${wl}_rps_postmortemd]:-0}" -v b="${R[${wl}_rps_minimal]:-0}" 'BEGIN { if (b > 0) printf "%.1f", 100 * s / b }')
		R[${wl}_p99ratio]=$(awk -v s="${R[${wl}_p99_postmortemd]:-0}" -v b="${R[${wl}_p99_minimal]:-0}" 'BEGIN { if (b > 0) printf "%.2f", s / b }')
	done
fi

# --- (b) 200-alert storm on one connection -------------------------------------------------------
if [[ $ONLY == *b* ]]; then
	for target in minimal postmortemd; do
		url=$(target_url "$target")
		next_run
		wrkrun "b-warmup-$target" 2 1 1 bench/webhook.lua "$url" -- "$STORM" storm 1 "$RUN" "Storm$RUN"
		next_run
		wrkrun "b-$target" "$STORM_DURATION" 1 1 bench/webhook.lua "$url" -- "$STORM" storm 1 "$RUN" "Storm$RUN"
		R[b_p50_$target]=$(field p50_ms "$OUT/b-$target.txt")
		R[b_p99_$target]=$(field p99_ms "$OUT/b-$target.txt")
		R[b_rps_$target]=$(field rps "$OUT/b-$target.txt")
		R[b_cpu_$target]=$(cpu_per_req "$target" "$OUT/b-$target.txt")
		R[b_rcpu_$target]=$(cpu_per_req redis "$OUT/b-$target.txt")
	done
fi

# --- summary -------------------------------------------------------------------------------------
verdict() { # verdict <value> <op> <limit>
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v == "") { print "-"; exit }
		ok = (op == "<=") ? (v + 0 <= l + 0) : (v + 0 >= l + 0); print ok ? "PASS" : "MISS" }'
}
row() { printf '%-46s %12s %12s %9s  %-16s %s\n' "$@"; }
{
	echo
	echo "postmortemd load test, $(date -u +%FT%TZ), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))"
	row measure minimal postmortemd ratio target result
	if [[ $ONLY == *a* ]]; then
		for wl in a1 a20; do
			n=1
			[[ $wl == a20 ]] && n=20
			goal=60
			[[ $wl == a20 ]] && goal=70
			row "($wl) $n-alert webhooks req/s, $CONNS conns" "${R[${wl}_rps_minimal]}" "${R[${wl}_rps_postmortemd]}" \
				"${R[${wl}_ratio]}%" ">= $goal%" "$(verdict "${R[${wl}_ratio]}" '>=' $goal)"
			row "($wl) p50 ms" "$(fmt "${R[${wl}_p50_minimal]}" %.2f)" "$(fmt "${R[${wl}_p50_postmortemd]}" %.2f)" "" "" ""
			row "($wl) p99 ms" "$(fmt "${R[${wl}_p99_minimal]}" %.2f)" "$(fmt "${R[${wl}_p99_postmortemd]}" %.2f)" \
				"${R[${wl}_p99ratio]}x" "<= 2x" "$(verdict "${R[${wl}_p99ratio]}" '<=' 2)"
			row "($wl) failed requests (non-2xx, socket)" "${R[${wl}_err_minimal]}" "${R[${wl}_err_postmortemd]}" "" "0" \
				"$(verdict "${R[${wl}_err_postmortemd]}" '<=' 0)"
			row "($wl) CPU per request, server, us" "${R[${wl}_cpu_minimal]}" "${R[${wl}_cpu_postmortemd]}" "" "" ""
			row "($wl) CPU per request, redis-server, us" "${R[${wl}_rcpu_minimal]}" "${R[${wl}_rcpu_postmortemd]}" "" "" ""
			if [[ $BARE == 1 ]]; then
				row "($wl) bare (reads the body) req/s, p99 ms" "${R[${wl}_rps_bare]}" "$(fmt "${R[${wl}_p99_bare]}" %.2f)" "" "" ""
			fi
		done
	fi
	if [[ $ONLY == *b* ]]; then
		row "(b) 200-alert storm req/s, 1 conn" "$(fmt "${R[b_rps_minimal]}")" "$(fmt "${R[b_rps_postmortemd]}")" "" "" ""
		row "(b) 200-alert storm p50 / p99 ms" "$(fmt "${R[b_p50_minimal]}" %.2f)/$(fmt "${R[b_p99_minimal]}" %.2f)" \
			"$(fmt "${R[b_p50_postmortemd]}" %.2f)/$(fmt "${R[b_p99_postmortemd]}" %.2f)" "" "" ""
		row "(b) CPU per storm, server / redis-server, us" "${R[b_cpu_minimal]}/${R[b_rcpu_minimal]}" \
			"${R[b_cpu_postmortemd]}/${R[b_rcpu_postmortemd]}" "" "" ""
	fi
	if [[ $ONLY == *c* ]]; then
		row "(c) cold read after restart, median ms" "" "${R[c_cold]}" "" "<= 60 ms" "$(verdict "${R[c_cold]}" '<=' 60)"
		row "    ($COLD_READS restarts, range ms)" "" "${R[c_cold_range]}" "" "" ""
		row "    CPU of the cold read, median ms: service / redis" "" "${R[c_cold_cpu]}/${R[c_cold_rcpu]}" "" "" ""
		row "(c) warm read median ms (${R[c_events]} ev, $(( ${R[c_size]:-0} / 1024 )) KiB)" "" \
			"$(fmt "${R[c_p50]}" %.1f)" "" "<= 10 ms" "$(verdict "${R[c_p50]}" '<=' 10)"
		row "(c) warm read p99 ms" "" "$(fmt "${R[c_p99]}" %.1f)" "" "" ""
	fi
	if [[ $ONLY == *d* ]]; then
		for layout in long new; do
			goal=600
			[[ $layout == new ]] && goal=1500
			desc="$LONG_STORMS storms of 200 alerts, 1 group"
			[[ $layout == new ]] && desc="new alerts, $MEM_GROUPS groups"
			row "(d) B/event, $desc" "${R[d_${layout}_minimal]}" "${R[d_${layout}_postmortemd]}" \
				"$(awk -v a="${R[d_${layout}_postmortemd]:-0}" -v b="${R[d_${layout}_minimal]:-0}" 'BEGIN { if (b > 0) printf "%.2fx", a / b }')" \
				"<= $goal" "$(verdict "${R[d_${layout}_postmortemd]}" '<=' $goal)"
			row "    events stored" "${R[d_events_${layout}_minimal]}" "${R[d_events_${layout}_postmortemd]}" "" "" ""
			row "    used_memory delta B/event" "${R[d_used_${layout}_minimal]}" "${R[d_used_${layout}_postmortemd]}" "" "" ""
			row "    stream / dedupe / incidents+rest B/event" "" "${R[d_stream_$layout]}/${R[d_dedupe_$layout]}/${R[d_rest_$layout]}" "" "" ""
		done
	fi
	if [[ -n $NOISY ]]; then
		echo "DISTURBED: other processes used more than ${NOISY_PCT}% of a core during: $NOISY"
		echo "  (figures of those runs are pessimistic; rerun on a quiet machine)"
	fi
	echo "raw wrk output and CPU use per run: $OUT"
} | tee "$OUT/summary.txt"
