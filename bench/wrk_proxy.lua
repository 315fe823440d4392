-- wrk script: POST /v1/chat/completions (OpenAI shape, non-streamed) with rotating bilingual
-- messages. The same requests go to the gateway (proxied) and straight to the fake upstream
-- (baseline), so the difference is what the gateway adds.
local bodies = {
  '{"model":"haiku","max_tokens":256,"messages":[{"role":"user","content":"Is One Piece vol 105 in stock?"}]}',
  '{"model":"haiku","max_tokens":256,"messages":[{"role":"system","content":"You are a manga store assistant."},{"role":"user","content":"鬼滅の刃は全何巻ですか？"}]}',
  '{"model":"haiku","max_tokens":256,"messages":[{"role":"user","content":"Any manga by Naoki Urasawa?"},{"role":"assistant","content":"Try Monster and 20th Century Boys."},{"role":"user","content":"Which one is shorter?"}]}',
  '{"model":"haiku","max_tokens":256,"messages":[{"role":"user","content":"SPY×FAMILYの新刊はいつ？"}]}',
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/chat/completions", {["Content-Type"] = "application/json"},
                    bodies[(i % #bodies) + 1])
end

done = function(summary, latency, requests)
  io.write(string.format("WRK_RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
