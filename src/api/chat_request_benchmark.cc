#include <string>

#include "api/chat_request.h"
#include "benchmark/benchmark.h"

namespace mangaassist::api {
namespace {

const std::string kBody =
    R"({"session_id":"sess-7f3a","user_id":"user-123","message":"Is One Piece vol 105 in stock? 在庫ありますか","tier":"member","locale":"ja-JP"})";

void BM_ParseChatRequest(benchmark::State& state) {
  for (auto _ : state) {
    core::RequestContext ctx;
    benchmark::DoNotOptimize(ParseChatRequest(kBody, 16, &ctx));
    benchmark::DoNotOptimize(ctx.message.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kBody.size()));
}
BENCHMARK(BM_ParseChatRequest);

void BM_ChatResponseJson(benchmark::State& state) {
  core::RequestContext ctx;
  ctx.request_id = "0b6c8e7e-4d1e-4f59-9a3c-2f8d0c1e5b7a";
  ctx.answer = "ONE PIECE (Eiichiro Oda): 105 volumes so far, ongoing. Volume 105 is available.";
  ctx.route = core::Route::kExtractive;
  for (auto _ : state) {
    std::string out = ChatResponseJson(ctx);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_ChatResponseJson);

}  // namespace
}  // namespace mangaassist::api

BENCHMARK_MAIN();
