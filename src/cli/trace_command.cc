#include "cli/trace_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <ostream>
#include <system_error>

#include "absl/strings/str_format.h"
#include "core/config.h"
#include "rag/catalog.h"
#include "replay/generator.h"
#include "replay/replay.h"
#include "replay/trace.h"

namespace mangaassist::cli {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// A one-line progress bar on stderr, redrawn at most 5 times a second.
class ProgressBar {
 public:
  ProgressBar(std::ostream* err, int64_t total, const char* unit)
      : err_(err), total_(total), unit_(unit), start_(Clock::now()) {}

  void Update(int64_t done, int64_t bytes_or_done) {
    if (err_ == nullptr) return;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    Draw(done, bytes_or_done);
  }
  void Finish(int64_t done, int64_t bytes_or_done) {
    if (err_ == nullptr) return;
    Draw(done, bytes_or_done);
    *err_ << "\n";
    err_->flush();
  }

 private:
  void Draw(int64_t done, int64_t position) {
    const double s = std::max(Seconds(start_), 1e-6);
    std::string bar;
    if (total_ > 0) {
      const int64_t filled = std::min<int64_t>(30, position * 30 / total_);
      bar = absl::StrFormat("[%s%s] %3d%% ", std::string(static_cast<size_t>(filled), '='),
                            std::string(static_cast<size_t>(30 - filled), ' '),
                            static_cast<int>(std::min<int64_t>(100, position * 100 / total_)));
    }
    *err_ << absl::StrFormat("\r%s%d %s, %.0f/s, %.1f s", bar, done, unit_, done / s, s);
    err_->flush();
  }

  std::ostream* err_;
  const int64_t total_;
  const char* unit_;
  const Clock::time_point start_;
  Clock::time_point last_{};
};

std::string DefaultPath(const std::string& relative_to_data) {
  return core::DefaultConfig().DataPath(relative_to_data);
}

}  // namespace

int RunTraceGen(const TraceGenOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<replay::GeneratorProfile> profile =
      options.profile.empty()
          ? absl::StatusOr<replay::GeneratorProfile>(replay::DefaultGeneratorProfile())
          : replay::LoadGeneratorProfile(options.profile);
  if (!profile.ok()) {
    err << "mangaassist trace gen: " << profile.status().message() << "\n";
    return 2;
  }
  if (!options.start_date.empty()) profile->start_date = options.start_date;
  const core::Config defaults = core::DefaultConfig();
  const std::string catalog_path =
      options.catalog.empty() ? defaults.DataPath(defaults.responder.catalog) : options.catalog;
  rag::LoadReport report;
  auto catalog = rag::Catalog::LoadJsonl(catalog_path, &report);
  if (!catalog.ok()) {
    err << "mangaassist trace gen: " << catalog.status().message() << "\n";
    return 2;
  }
  replay::GeneratorOptions g;
  g.seed = options.seed;
  g.messages = options.messages;
  g.days = options.days;
  g.profile = *std::move(profile);
  g.catalog = catalog->get();
  auto generator = replay::TraceGenerator::Create(std::move(g));
  if (!generator.ok()) {
    err << "mangaassist trace gen: " << generator.status().message() << "\n";
    return 2;
  }

  std::ofstream file;
  std::ostream* sink = &out;
  if (options.out != "-") {
    file.open(options.out, std::ios::binary | std::ios::trunc);
    if (!file) {
      err << "mangaassist trace gen: cannot write " << options.out << "\n";
      return 1;
    }
    sink = &file;
  }
  ProgressBar bar(options.quiet || options.out == "-" ? nullptr : &err, options.messages,
                  "messages");
  std::string buffer;
  int64_t written = 0;
  (*generator)->Generate([&](const replay::TraceRecord& r) {
    replay::AppendTraceLine(r, &buffer);
    ++written;
    if (buffer.size() >= (1 << 20)) {
      sink->write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
      bar.Update(written, written);
    }
  });
  sink->write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  sink->flush();
  bar.Finish(written, written);
  if (!*sink) {
    err << "mangaassist trace gen: writing " << options.out << " failed\n";
    return 1;
  }
  return 0;
}

int RunReplay(const ReplayOptions& options, std::ostream& out, std::ostream& err) {
  auto load = [&err](const std::string& path, const std::string& fallback,
                     core::Config* cfg) -> bool {
    const std::string p = path.empty() ? DefaultPath(fallback) : path;
    auto c = core::LoadConfigFile(p);
    if (!c.ok()) {
      err << "mangaassist replay: " << c.status().message() << "\n";
      return false;
    }
    *cfg = *std::move(c);
    return true;
  };
  replay::ReplayOptions r;
  if (!load(options.config, "../config/replay.yaml", &r.optimized)) return 2;
  if (!load(options.baseline_config, "../config/replay-baseline.yaml", &r.baseline)) return 2;
  auto routes = replay::LoadRouteTable(
      options.routes.empty() ? DefaultPath("../config/replay-routes.yaml") : options.routes);
  if (!routes.ok()) {
    err << "mangaassist replay: " << routes.status().message() << "\n";
    return 2;
  }
  r.routes = *std::move(routes);
  r.disable = options.disable;
  if (!options.scenario.empty() && !replay::ParseScenario(options.scenario, &r.scenario)) {
    err << "mangaassist replay: --scenario '" << options.scenario
        << "': expected burst10x, runaway, redis-outage or provider-brownout\n";
    return 2;
  }
  if (!options.daily_cap_usd.empty()) {
    auto cap = core::Money::ParseUsd(options.daily_cap_usd);
    if (!cap.ok() || cap->nanos() < 0) {
      err << "mangaassist replay: --daily-cap '" << options.daily_cap_usd
          << "': expected a non-negative USD amount such as 5000 or 12.50\n";
      return 2;
    }
    r.daily_cap = *cap;
  }
  if (options.brownout_permille < 0 || options.brownout_permille > 1000) {
    err << "mangaassist replay: --brownout-permille must be between 0 and 1000\n";
    return 2;
  }
  r.brownout_permille = options.brownout_permille;
  r.strict = options.strict;

  std::ifstream file;
  std::istream* in = &std::cin;
  int64_t size = 0;
  if (options.trace != "-") {
    file.open(options.trace, std::ios::binary);
    if (!file) {
      err << "mangaassist replay: cannot open trace " << options.trace << "\n";
      return 2;
    }
    std::error_code ec;
    size = static_cast<int64_t>(std::filesystem::file_size(options.trace, ec));
    if (ec) size = 0;
    in = &file;
  }
  auto replayer = replay::Replayer::Create(std::move(r));
  if (!replayer.ok()) {
    err << "mangaassist replay: " << replayer.status().message() << "\n";
    return 2;
  }
  ProgressBar bar(options.quiet ? nullptr : &err, size, "lines");
  const auto start = Clock::now();
  absl::Status status =
      (*replayer)->Run(in, [&bar](int64_t lines, int64_t bytes) { bar.Update(lines, bytes); });
  const double elapsed = Seconds(start);
  const replay::ReplayResult& result = (*replayer)->result();
  bar.Finish(result.lines, size);
  for (const std::string& e : result.bad_line_errors) err << "mangaassist replay: " << e << "\n";
  if (result.bad_lines > static_cast<int64_t>(result.bad_line_errors.size())) {
    err << "mangaassist replay: … and " << result.bad_lines - result.bad_line_errors.size()
        << " more bad lines\n";
  }
  if (!options.json_path.empty()) {
    std::ofstream json(options.json_path, std::ios::binary | std::ios::trunc);
    json << replay::ReplayJson(
        result, options.deterministic ? std::nullopt : std::optional<double>(elapsed));
    json.close();
    if (!json) {
      err << "mangaassist replay: cannot write " << options.json_path << "\n";
      return 1;
    }
  }
  if (!options.html_path.empty()) {
    std::ofstream html(options.html_path, std::ios::binary | std::ios::trunc);
    html << replay::ReplayHtml(result);
    html.close();
    if (!html) {
      err << "mangaassist replay: cannot write " << options.html_path << "\n";
      return 1;
    }
  }
  out << replay::ReplayText(result);
  if (!options.deterministic) {
    out << absl::StrFormat("\nReplayed %d messages in %.2f s (%.0f messages/s, both runs)\n",
                           result.messages, elapsed, result.messages / std::max(elapsed, 1e-9));
  }
  out.flush();
  if (!status.ok()) {
    err << "mangaassist replay: " << status.message() << "\n";
    return 3;
  }
  return 0;
}

}  // namespace mangaassist::cli
