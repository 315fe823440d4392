// fake_upstream: the tests' fake LLM provider as a standalone server, the upstream of load
// benchmarks (wrk against the gateway, or against this binary for a baseline).
//   fake_upstream [--host H] [--port N] [--threads T] [--latency-ms X] [--chunk-interval-ms Y]
//                 [--stream-chunks K]
// Serves until SIGINT or SIGTERM; request recording is off so memory stays flat.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "tests/support/fake_upstream.h"

namespace {

using mangaassist::testing::Behavior;
using mangaassist::testing::FakeUpstream;

[[noreturn]] void Usage(const char* argv0, int exit_code) {
  std::fprintf(exit_code == 0 ? stdout : stderr,
               "usage: %s [--host H] [--port N] [--threads T] [--latency-ms X]\n"
               "          [--chunk-interval-ms Y] [--stream-chunks K]\n",
               argv0);
  std::exit(exit_code);
}

bool ParseInt(const char* text, long min, long max, long* out) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return false;
  *out = value;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  FakeUpstream::Options options;
  options.port = 8081;
  options.record_requests = false;
  Behavior behavior;

  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") Usage(argv[0], 0);
    if (i + 1 >= argc) Usage(argv[0], 2);
    const char* value = argv[++i];
    long number = 0;
    if (flag == "--host") {
      options.host = value;
    } else if (flag == "--port" && ParseInt(value, 0, 65535, &number)) {
      options.port = static_cast<uint16_t>(number);
    } else if (flag == "--threads" && ParseInt(value, 1, 256, &number)) {
      options.threads = static_cast<int>(number);
    } else if (flag == "--latency-ms" && ParseInt(value, 0, 3600000, &number)) {
      behavior.latency = std::chrono::milliseconds(number);
    } else if (flag == "--chunk-interval-ms" && ParseInt(value, 0, 3600000, &number)) {
      behavior.chunk_interval = std::chrono::milliseconds(number);
    } else if (flag == "--stream-chunks" && ParseInt(value, 1, 100000, &number)) {
      behavior.stream_chunks = static_cast<int>(number);
    } else {
      std::fprintf(stderr, "bad flag or value: %s %s\n", argv[i - 1], value);
      Usage(argv[0], 2);
    }
  }

  // Block the stop signals before the server threads exist, so they inherit the mask and only
  // sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<FakeUpstream> upstream = FakeUpstream::Start(options);
  if (upstream == nullptr) return 1;
  upstream->SetBehavior(behavior);
  std::printf("fake_upstream listening on %s (threads=%d, latency=%lldms)\n",
              upstream->base_url().c_str(), options.threads,
              static_cast<long long>(behavior.latency.count()));
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "fake_upstream: %s, stopping after %lld requests\n",
               strsignal(signal_number), static_cast<long long>(upstream->TotalRequests()));
  upstream->Stop();
  return 0;
}
