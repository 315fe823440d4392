-- wrk script: POST /v1/chat with a rotating set of bilingual messages (extractive route).
local messages = {
  '{"session_id":"s1","user_id":"u1","message":"こんにちは"}',
  '{"session_id":"s2","user_id":"u2","message":"Is One Piece vol 105 in stock?"}',
  '{"session_id":"s3","user_id":"u3","message":"鬼滅の刃は全何巻ですか？"}',
  '{"session_id":"s4","user_id":"u4","message":"Any manga by Naoki Urasawa?"}',
  '{"session_id":"s5","user_id":"u5","message":"SPY×FAMILYの新刊はいつ？"}',
  '{"session_id":"s6","user_id":"u6","message":"thanks, bye!"}',
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/chat", {["Content-Type"] = "application/json"},
                    messages[(i % #messages) + 1])
end

done = function(summary, latency, requests)
  io.write(string.format("WRK_RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
