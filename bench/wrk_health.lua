-- wrk script: GET /healthz, the HTTP floor (no body, no pipeline) for bench/instructions.sh.
request = function() return wrk.format("GET", "/healthz") end
done = function(summary, latency, requests)
  io.write(string.format("WRK_RESULT requests=%d duration_us=%d errors=%d\n", summary.requests, summary.duration, summary.errors.status))
end
