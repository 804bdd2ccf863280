-- Shared by the wrk scripts of bench/load.sh: done() prints one machine-readable line that
-- load.sh parses. Latencies are in milliseconds, wrk's own (coordinated-omission prone) figures.
function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "mean_ms=%.3f non2xx=%d sockerr=%d bytes=%d\n",
    summary.requests, s, summary.requests / s,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000, e.status, e.connect + e.read + e.write + e.timeout,
    summary.bytes))
end
