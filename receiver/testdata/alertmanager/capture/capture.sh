#!/usr/bin/env bash
# Capture real Alertmanager webhook notifications as byte-exact fixtures.
#
#   capture.sh <alertmanager-binary> <output-dir>
#
# e.g. (from receiver/testdata/alertmanager):
#   capture/capture.sh /usr/bin/prometheus-alertmanager v0.25.0
#   capture/capture.sh /tmp/am031/alertmanager          v0.31.1
#
# Everything listens on 127.0.0.1 only:
#   19080        capture receiver (capture/capture_receiver.py)
#   19093        single Alertmanager (scenarios 01-12, 14, 15), clustering disabled
#   19193/19194  HA peer A (web/cluster)   scenario 13
#   19293/19294  HA peer B (web/cluster)   scenario 13
# Alertmanager configs: capture/alertmanager.yml and capture/alertmanager-ha.yml
# (copied into <output-dir> for the record). Scratch state lives in $WORK (/tmp).
#
# Each expected notification is claimed with take(): wait (max 30s) for a capture
# on the given receiver path whose body matches a jq predicate, then move the body
# and its .headers.txt to <output-dir>/<name>.json / <name>.headers.txt (mv, so the
# bytes are untouched). Anything that arrives but is never claimed is kept as
# <output-dir>/unexpected-*.json and reported.
set -euo pipefail

AM_BIN=${1:?alertmanager binary}
OUT=$(realpath -m "${2:?output dir}")
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/amcapture-$(basename "$OUT")}
CAP=127.0.0.1:19080
AM=127.0.0.1:19093
HA_A=127.0.0.1:19193; HA_A_CL=127.0.0.1:19194
HA_B=127.0.0.1:19293; HA_B_CL=127.0.0.1:19294
RAW=$WORK/raw
PIDS=()

mkdir -p "$OUT"
rm -rf "$WORK"; mkdir -p "$WORK" "$RAW"
cp "$HERE/alertmanager.yml" "$HERE/alertmanager-ha.yml" "$OUT/"
"$AM_BIN" --version > "$OUT/alertmanager-version.txt" 2>&1
LOG=$OUT/capture-log.tsv
printf 'file\treceived_at_utc\tpath\tbody_bytes\n' > "$LOG"

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

say() { printf '%s  %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" >&2; }
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

wait_ready() { # host:port
  for _ in $(seq 100); do curl -sf "http://$1/-/ready" >/dev/null && return 0; sleep 0.2; done
  say "alertmanager on $1 not ready"; return 1
}

start_am() { # name web cluster-args...
  local name=$1 web=$2; shift 2
  "$AM_BIN" --storage.path="$WORK/data-$name" \
    --web.listen-address="$web" --web.external-url="http://$web" \
    --log.level=debug "$@" > "$WORK/am-$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
  wait_ready "$web"
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# alert LABELS_JSON ANNOTATIONS_JSON STARTS ENDS EXPR  -> one v2 alert object
alert() {
  jq -cn --argjson l "$1" --argjson a "$2" --arg s "$3" --arg e "$4" --arg x "$5" '
    {labels:$l, annotations:$a,
     generatorURL:("http://prometheus.example:9090/graph?g0.expr=" + ($x|@uri) + "&g0.tab=1")}
    + (if $s != "" then {startsAt:$s} else {} end)
    + (if $e != "" then {endsAt:$e} else {} end)'
}

post() { # host:port, JSON array on stdin
  local body; body=$(cat)
  curl -sS -f -o /dev/null -X POST -H 'Content-Type: application/json' \
    --data-binary "$body" "http://$1/api/v2/alerts"
}
post_am() { post "$AM"; }

# take NAME PATH JQ-PREDICATE
take() {
  local name=$1 path=$2 pred=$3 tag f
  tag=$(printf '%s' "$path" | sed 's/[^A-Za-z0-9]\+/-/g; s/^-//; s/-$//')
  local deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    for f in $(ls "$RAW"/*-"$tag".json 2>/dev/null | sort); do
      if jq -e "$pred" "$f" >/dev/null 2>&1; then
        local base=${f%.json} seq
        seq=$(basename "$base" | cut -d- -f1)
        mv "$base.headers.txt" "$OUT/$name.headers.txt"
        mv "$f" "$OUT/$name.json"
        awk -F'\t' -v s="$seq" -v n="$name.json" '$1==s {print n"\t"$2"\t"$4"\t"$5}' "$RAW/index.tsv" >> "$LOG"
        say "captured $name.json ($(jq -r '[.status, (.alerts|length|tostring)+" alerts", (.notification_reason // "-")]|join(", ")' "$OUT/$name.json"))"
        return 0
      fi
    done
    sleep 0.1
  done
  say "TIMEOUT waiting for $name on $path matching: $pred"; ls -l "$RAW" >&2
  return 1
}

# quiet SECONDS: assert nothing (unclaimed) arrives
quiet() {
  sleep "$1"
  if ls "$RAW"/*.json >/dev/null 2>&1; then
    say "UNEXPECTED captures:"; ls "$RAW" >&2; return 1
  fi
}

# ---------------------------------------------------------------------------
python3 "$HERE/capture_receiver.py" --listen "$CAP" --out "$RAW" --slow-seconds 5 > "$WORK/capture.log" 2>&1 &
PIDS+=($!); CAP_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://$CAP/ping" 2>/dev/null && break; sleep 0.1; done
rm -f "$RAW"/*   # drop the readiness ping

start_am main "$AM" --config.file="$HERE/alertmanager.yml" --cluster.listen-address=
say "alertmanager $("$AM_BIN" --version 2>&1 | head -1) ready on $AM"

# --- 01..05 HighLatency, root route, group_by [alertname] -------------------
HL_ANN='{"summary":"p99 latency above 2s","description":"p99 request latency of checkout on inst-1 has been above 2s for 5 minutes.","runbook_url":"https://runbooks.example/checkout/high-latency"}'
HL_ANN2='{"summary":"p99 latency above 2s","description":"p99 request latency of checkout on inst-2 has been above 2s for 5 minutes.","runbook_url":"https://runbooks.example/checkout/high-latency"}'
HL_L1='{"alertname":"HighLatency","service":"checkout","instance":"inst-1","severity":"critical"}'
HL_L2='{"alertname":"HighLatency","service":"checkout","instance":"inst-2","severity":"critical"}'
HL_X='histogram_quantile(0.99, sum by (le, service, instance) (rate(http_request_duration_seconds_bucket{service="checkout"}[5m]))) > 2'

T1=$(now)
alert "$HL_L1" "$HL_ANN" "$T1" "" "$HL_X" | jq -cs . | post_am
take 01-first-firing /hook/postmortemd '.status=="firing" and (.alerts|length)==1'

T2=$(now)
alert "$HL_L2" "$HL_ANN2" "$T2" "" "$HL_X" | jq -cs . | post_am
take 02-second-alert-joins /hook/postmortemd '.status=="firing" and (.alerts|length)==2 and ([.alerts[]|select(.status=="firing")]|length)==2'

alert "$HL_L1" "$HL_ANN" "$T1" "$(now)" "$HL_X" | jq -cs . | post_am
take 03-partial-recovery /hook/postmortemd '.status=="firing" and ([.alerts[]|select(.status=="resolved")]|length)==1'

alert "$HL_L2" "$HL_ANN2" "$T2" "$(now)" "$HL_X" | jq -cs . | post_am
take 04-all-resolved /hook/postmortemd '.status=="resolved"'
quiet 3   # group is flushed and deleted

T5=$(now)
alert "$HL_L1" "$HL_ANN" "$T5" "" "$HL_X" | jq -cs . | post_am
take 05-refire-new-episode /hook/postmortemd '.status=="firing" and (.alerts|length)==1'
alert "$HL_L1" "$HL_ANN" "$T5" "$(now)" "$HL_X" | jq -cs . | post_am
take 05-refire-resolved /hook/postmortemd '.status=="resolved"'
quiet 2

# --- 06 truncation: max_alerts 3, group of 5 ---------------------------------
qb_alerts() { # startsAt endsAt instances...
  local s=$1 e=$2; shift 2
  for i in "$@"; do
    alert "{\"alertname\":\"QueueBacklog\",\"job\":\"rabbitmq\",\"instance\":\"rabbitmq-$i.mq.svc:15692\",\"queue\":\"orders.payments\",\"service\":\"orders\",\"severity\":\"warning\"}" \
      "{\"summary\":\"Queue orders.payments has more than 10k ready messages\",\"description\":\"rabbitmq-$i has a backlog on orders.payments; consumers are not keeping up.\",\"runbook_url\":\"https://runbooks.example/rabbitmq/queue-backlog\"}" \
      "$s" "$e" 'sum by (instance, queue) (rabbitmq_queue_messages_ready{queue="orders.payments"}) > 10000'
  done | jq -cs .
}
T6=$(now)
qb_alerts "$T6" "" 1 2 3 4 5 | post_am
take 06-truncated-firing /hook/truncated '.status=="firing" and .truncatedAlerts==2'
qb_alerts "$T6" "$(now)" 1 2 3 4 5 | post_am
take 06-truncated-resolved /hook/truncated '.status=="resolved" and .truncatedAlerts==2'
quiet 2

# --- 15 truncation hides still-firing alerts (extra) -------------------------
T15=$(now)
qb_alerts "$T15" "" 1 2 3 4 5 | post_am
take 15a-truncated-refire /hook/truncated '.status=="firing" and .truncatedAlerts==2'
qb_alerts "$T15" "$(now)" 1 2 3 | post_am
take 15b-truncated-3-resolved-status-resolved-while-2-firing /hook/truncated '.truncatedAlerts==2 and ([.alerts[]|select(.status=="resolved")]|length)==3'
qb_alerts "$T15" "$(now)" 4 5 | post_am
take 15c-truncated-remaining-2-resolved /hook/truncated '.status=="resolved" and (.alerts|length)==2'
quiet 2

# --- 07 receiver name with dots ---------------------------------------------
DK_L='{"alertname":"DiskWillFillIn4Hours","team":"storage","job":"node","instance":"db-1.prod.example:9100","device":"/dev/nvme0n1p1","mountpoint":"/var/lib/postgresql","severity":"warning"}'
DK_A='{"summary":"Filesystem /var/lib/postgresql on db-1 will fill up within 4 hours","description":"Based on the last 6h, /var/lib/postgresql on db-1.prod.example will be full in less than 4 hours.","runbook_url":"https://runbooks.example/node/disk-will-fill"}'
DK_X='predict_linear(node_filesystem_avail_bytes{mountpoint="/var/lib/postgresql"}[6h], 4 * 3600) < 0'
T7=$(now)
alert "$DK_L" "$DK_A" "$T7" "" "$DK_X" | jq -cs . | post_am
take 07-dotted-receiver-firing /hook/team-dotted '.status=="firing"'
alert "$DK_L" "$DK_A" "$T7" "$(now)" "$DK_X" | jq -cs . | post_am
take 07-dotted-receiver-resolved /hook/team-dotted '.status=="resolved"'
quiet 2

# --- 08 http_config auth (same group to two receivers via continue: true) ---
CL_L='{"alertname":"KubePodCrashLooping","namespace":"payments","pod":"payments-api-7d9f8b6c5d-x2k4p","container":"api","job":"kube-state-metrics","severity":"warning"}'
CL_A='{"summary":"Pod payments/payments-api-7d9f8b6c5d-x2k4p is crash looping","description":"Container api in pod payments/payments-api-7d9f8b6c5d-x2k4p restarted 5 times in the last 10 minutes.","runbook_url":"https://runbooks.example/kubernetes/pod-crash-looping"}'
CL_X='increase(kube_pod_container_status_restarts_total{namespace="payments"}[10m]) > 3'
T8=$(now)
alert "$CL_L" "$CL_A" "$T8" "" "$CL_X" | jq -cs . | post_am
take 08-auth-bearer-firing /hook/bearer '.status=="firing"'
take 08-auth-basic-firing  /hook/basic  '.status=="firing"'
alert "$CL_L" "$CL_A" "$T8" "$(now)" "$CL_X" | jq -cs . | post_am
take 08-auth-bearer-resolved /hook/bearer '.status=="resolved"'
take 08-auth-basic-resolved  /hook/basic  '.status=="resolved"'
quiet 2

# --- 09 send_resolved: false --------------------------------------------------
ce_alert() { # host startsAt endsAt
  alert "{\"alertname\":\"CertificateExpiringSoon\",\"job\":\"blackbox\",\"instance\":\"https://$1\",\"severity\":\"warning\"}" \
    "{\"summary\":\"TLS certificate for $1 expires in less than 14 days\",\"description\":\"The certificate presented by https://$1 expires in 13 days.\",\"runbook_url\":\"https://runbooks.example/tls/certificate-expiring\"}" \
    "$2" "$3" 'probe_ssl_earliest_cert_expiry - time() < 14 * 86400'
}
T9=$(now)
{ ce_alert shop.example "$T9" ""; ce_alert api.example "$T9" ""; } | jq -cs . | post_am
take 09-send-resolved-false-firing /hook/firing-only '.status=="firing" and (.alerts|length)==2'
ce_alert api.example "$T9" "$(now)" | jq -cs . | post_am
say "09: partial recovery with send_resolved:false - expecting NO notification"
quiet 4
# a new alert joins: the already-resolved api.example is stripped from the payload
T9B=$(now)
ce_alert www.example "$T9B" "" | jq -cs . | post_am
take 09-send-resolved-false-new-alert-after-partial-recovery /hook/firing-only '.status=="firing" and (.alerts|length)==2'
{ ce_alert shop.example "$T9" "$(now)"; ce_alert www.example "$T9B" "$(now)"; } | jq -cs . | post_am
say "09: all resolved with send_resolved:false - expecting NO notification"
quiet 4

# --- 10 storm: 200 alerts in one group ----------------------------------------
storm() { # startsAt endsAt
  jq -cn --arg s "$1" --arg e "$2" '[range(1;201) | tostring as $i | {
      labels: {alertname:"InstanceDown", job:"node", instance:("node-" + $i + ".dc1.example:9100"), datacenter:"dc1", severity:"critical"},
      annotations: {summary:("Instance node-" + $i + ".dc1.example:9100 is down"),
                    description:("node-" + $i + ".dc1.example:9100 of job node has been unreachable for more than 1 minute."),
                    runbook_url:"https://runbooks.example/node/instance-down"},
      generatorURL: ("http://prometheus.example:9090/graph?g0.expr=" + ("up{job=\"node\"} == 0"|@uri) + "&g0.tab=1"),
      startsAt: $s} + (if $e != "" then {endsAt:$e} else {} end)]'
}
T10=$(now)
storm "$T10" "" | post_am
take 10-storm-200-firing /hook/storm '.status=="firing" and (.alerts|length)==200'
storm "$T10" "$(now)" | post_am
take 10-storm-200-resolved /hook/storm '.status=="resolved" and (.alerts|length)==200'
quiet 2

# --- 11 repeat_interval (3s on this route, group_interval 1s) -----------------
RL_L='{"alertname":"ReplicationLag","service":"postgres","job":"postgres-exporter","instance":"pg-replica-1.prod.example:9187","severity":"warning"}'
RL_A='{"summary":"Postgres replica pg-replica-1 is more than 30s behind","description":"Replication lag on pg-replica-1.prod.example has been above 30s for 5 minutes.","runbook_url":"https://runbooks.example/postgres/replication-lag"}'
RL_X='pg_replication_lag_seconds > 30'
T11=$(now)
alert "$RL_L" "$RL_A" "$T11" "" "$RL_X" | jq -cs . | post_am
take 11-repeat-first /hook/repeat '.status=="firing"'
take 11-repeat-interval-elapsed /hook/repeat '.status=="firing"'
alert "$RL_L" "$RL_A" "$T11" "$(now)" "$RL_X" | jq -cs . | post_am
take 11-repeat-resolved /hook/repeat '.status=="resolved"'
quiet 4

# --- 12 resolved alert posted without startsAt ---------------------------------
eb_alert() { # window startsAt endsAt
  alert "{\"alertname\":\"ErrorBudgetBurn\",\"service\":\"search\",\"slo\":\"availability-99.9\",\"window\":\"$1\",\"severity\":\"page\"}" \
    "{\"summary\":\"search is burning its error budget too fast ($1 window)\",\"description\":\"The search availability SLO error budget burn rate over $1 is above 14.4.\",\"runbook_url\":\"https://runbooks.example/slo/error-budget-burn\"}" \
    "$2" "$3" "slo:sli_error:ratio_rate$1{service=\"search\"} > (14.4 * 0.001)"
}
T12=$(now)
eb_alert 1h "$T12" "" | jq -cs . | post_am
take 12a-errorbudget-firing /hook/postmortemd '.status=="firing" and (.alerts|length)==1'
# a never-seen alert arrives already resolved, without startsAt -> startsAt == endsAt
eb_alert 6h "" "$(now)" | jq -cs . | post_am
take 12b-new-alert-resolved-without-startsAt /hook/postmortemd '(.alerts|length)==2 and ([.alerts[]|select(.status=="resolved" and .startsAt==.endsAt)]|length)==1'
# the known firing alert is resolved without startsAt -> merged, original startsAt kept
eb_alert 1h "" "$(now)" | jq -cs . | post_am
take 12c-known-alert-resolved-without-startsAt /hook/postmortemd '.status=="resolved"'
quiet 2

# --- 14 nested routes, group_by [alertname, service] --------------------------
er_alert() { # service instance startsAt endsAt
  alert "{\"alertname\":\"HighErrorRate\",\"team\":\"platform\",\"service\":\"$1\",\"job\":\"$1\",\"instance\":\"$2\",\"severity\":\"page\"}" \
    "{\"summary\":\"$1 is returning more than 5% errors\",\"description\":\"5xx ratio of $1 on $2 has been above 5% for 5 minutes.\",\"runbook_url\":\"https://runbooks.example/platform/high-error-rate\"}" \
    "$3" "$4" "sum by (service, instance) (rate(http_requests_total{service=\"$1\",code=~\"5..\"}[5m])) / sum by (service, instance) (rate(http_requests_total{service=\"$1\"}[5m])) > 0.05"
}
T14=$(now)
{ er_alert api-gateway gw-1.prod.example:8080 "$T14" ""; er_alert api-gateway gw-2.prod.example:8080 "$T14" ""; er_alert auth auth-1.prod.example:8080 "$T14" ""; } | jq -cs . | post_am
take 14-nested-route-api-gateway-firing /hook/platform-pager '.status=="firing" and .groupLabels.service=="api-gateway"'
take 14-nested-route-auth-firing        /hook/platform-pager '.status=="firing" and .groupLabels.service=="auth"'
{ er_alert api-gateway gw-1.prod.example:8080 "$T14" "$(now)"; er_alert api-gateway gw-2.prod.example:8080 "$T14" "$(now)"; er_alert auth auth-1.prod.example:8080 "$T14" "$(now)"; } | jq -cs . | post_am
take 14-nested-route-api-gateway-resolved /hook/platform-pager '.status=="resolved" and .groupLabels.service=="api-gateway"'
take 14-nested-route-auth-resolved        /hook/platform-pager '.status=="resolved" and .groupLabels.service=="auth"'
quiet 2

stop_pid "$PID_main"

# --- 13 HA: two clustered peers, slow (5s) receiver, peer-timeout 2s ----------
start_am hapeerA "$HA_A" --config.file="$HERE/alertmanager-ha.yml" \
  --cluster.listen-address="$HA_A_CL" --cluster.advertise-address="$HA_A_CL" \
  --cluster.peer="$HA_B_CL" --cluster.peer-timeout=2s
start_am hapeerB "$HA_B" --config.file="$HERE/alertmanager-ha.yml" \
  --cluster.listen-address="$HA_B_CL" --cluster.advertise-address="$HA_B_CL" \
  --cluster.peer="$HA_A_CL" --cluster.peer-timeout=2s
for _ in $(seq 100); do
  n=$(curl -sf "http://$HA_A/api/v2/status" | jq '.cluster.peers|length'); m=$(curl -sf "http://$HA_B/api/v2/status" | jq '.cluster.peers|length')
  [ "$n" = 2 ] && [ "$m" = 2 ] && break; sleep 0.2
done
# wait for gossip to settle on both peers, otherwise the first flush blocks until
# settled and can hit its own deadline (then it is re-sent: an extra duplicate)
for _ in $(seq 150); do
  sa=$(curl -sf "http://$HA_A/api/v2/status" | jq -r '.cluster.status'); sb=$(curl -sf "http://$HA_B/api/v2/status" | jq -r '.cluster.status')
  [ "$sa" = ready ] && [ "$sb" = ready ] && break; sleep 0.2
done
say "HA cluster: peerA sees $n peers ($sa), peerB sees $m peers ($sb)"
curl -sf "http://$HA_A/api/v2/status" | jq -c '.cluster' > "$WORK/ha-cluster-status.json"

PD_L='{"alertname":"PaymentsAPIDown","service":"payments","job":"payments-api","instance":"payments-1.prod.example:8080","severity":"critical"}'
PD_A='{"summary":"payments-api on payments-1 is down","description":"payments-1.prod.example:8080 has failed its health check for more than 1 minute.","runbook_url":"https://runbooks.example/payments/api-down"}'
PD_X='up{job="payments-api"} == 0'
T13=$(now)
A13=$(alert "$PD_L" "$PD_A" "$T13" "" "$PD_X" | jq -cs .)
echo "$A13" | post "$HA_A"; echo "$A13" | post "$HA_B"   # like Prometheus: send to every peer
take 13-ha-firing-peer-a /slow/ha ".status==\"firing\" and .externalURL==\"http://$HA_A\""
take 13-ha-firing-peer-b /slow/ha ".status==\"firing\" and .externalURL==\"http://$HA_B\""
quiet 6
E13=$(now)
A13=$(alert "$PD_L" "$PD_A" "$T13" "$E13" "$PD_X" | jq -cs .)
echo "$A13" | post "$HA_A"; echo "$A13" | post "$HA_B"
take 13-ha-resolved-peer-a /slow/ha ".status==\"resolved\" and .externalURL==\"http://$HA_A\""
take 13-ha-resolved-peer-b /slow/ha ".status==\"resolved\" and .externalURL==\"http://$HA_B\""
quiet 8

stop_pid "$PID_hapeerA"; stop_pid "$PID_hapeerB"
stop_pid "$CAP_PID"
sleep 0.5
if ls "$RAW"/*.json >/dev/null 2>&1; then
  for f in "$RAW"/*.json; do b=$(basename "$f" .json); mv "$f" "$OUT/unexpected-$b.json"; mv "$RAW/$b.headers.txt" "$OUT/unexpected-$b.headers.txt"; done
  say "WARNING: unexpected captures kept as $OUT/unexpected-*"
fi
say "done: $(ls "$OUT"/*.json | wc -l) payloads in $OUT (logs in $WORK)"
