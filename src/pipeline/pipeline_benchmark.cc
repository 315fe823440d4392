// One pass of the default pipeline (admit → respond) over a RequestContext, without HTTP.
#include <utility>  // Boost 1.74 Asio needs std::exchange declared first (g++ 12).

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "benchmark/benchmark.h"
#include "pipeline/pipeline.h"

namespace mangaassist::pipeline {
namespace {

void BM_PipelinePass(benchmark::State& state) {
  core::Registry metrics;
  core::Config cfg = core::DefaultConfig();
  cfg.data_dir = MANGAASSIST_DATA_DIR_FOR_TESTS;
  auto services = Services::Create(&cfg, &metrics, &core::SystemClock());
  if (!services.ok()) {
    state.SkipWithError(std::string(services.status().message()).c_str());
    return;
  }
  auto p = Pipeline::Build(services->get());
  if (!p.ok()) {
    state.SkipWithError(std::string(p.status().message()).c_str());
    return;
  }
  const char* messages[] = {"こんにちは", "Is One Piece vol 105 in stock?", "鬼滅の刃は全何巻ですか？",
                            "Any manga by Naoki Urasawa?"};
  boost::asio::io_context io;
  size_t i = 0;
  for (auto _ : state) {
    core::RequestContext ctx;
    ctx.session_id = "s1";
    ctx.user_id = "u1";
    ctx.message = messages[i++ % 4];
    boost::asio::co_spawn(io, (*p)->Run(ctx), boost::asio::detached);
    io.run();
    io.restart();
    benchmark::DoNotOptimize(ctx.answer.data());
  }
}
BENCHMARK(BM_PipelinePass);

}  // namespace
}  // namespace mangaassist::pipeline

BENCHMARK_MAIN();
