// Renderings of a ReplayResult: text (the Unified KPI Rollup table and the replay's own
// measurements), JSON (docs/replay.md lists the keys) and a self-contained HTML page.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "replay/replay.h"
#include "replay/trace.h"

namespace mangaassist::replay {

namespace {

using core::Money;
using nlohmann::ordered_json;

std::string Ratio(const std::optional<double>& v) {
  return v.has_value() ? absl::StrFormat("%.1f%%", *v * 100) : "no data";
}

ordered_json Usd(Money m) { return m.ToUsdString(); }

ordered_json Optional(const std::optional<double>& v) {
  return v.has_value() ? ordered_json(*v) : ordered_json();
}

std::string CapStatus(const ReplayResult& r) {
  if (r.days.empty()) return "no data (no messages)";
  if (!r.cap_enforced) {
    return absl::StrCat(
        "no data: the cap is not enforced (no `budget` stage; issue 7). Unenforced ",
        "spend was over the cap on ", r.days_over_cap, " of ", r.days.size(),
        " days, largest overshoot ", telemetry::FormatUsd(r.largest_overshoot));
  }
  return r.days_over_cap == 0
             ? "held every day"
             : absl::StrCat("broken on ", r.days_over_cap, " days, largest overshoot ",
                            telemetry::FormatUsd(r.largest_overshoot));
}

std::optional<double> Reduction(Money actual, Money baseline) {
  if (baseline == Money::Zero()) return std::nullopt;
  return 1.0 - static_cast<double>(actual.nanos()) / static_cast<double>(baseline.nanos());
}

std::string Stages(const std::vector<std::string>& s) {
  std::string out;
  for (const std::string& x : s) absl::StrAppend(&out, out.empty() ? "" : " → ", x);
  return out;
}

}  // namespace

std::string ReplayText(const ReplayResult& r) {
  std::string out = absl::StrCat("Replay: ", r.messages, " messages (", r.requests,
                                 " requests per run), ", r.bad_lines, " bad lines skipped",
                                 r.stopped_at_bad_line ? " (stopped at the first: --strict)" : "",
                                 "\n  baseline pipeline:  ", Stages(r.baseline_stages),
                                 "\n  optimized pipeline: ", Stages(r.optimized_stages), "\n");
  for (const std::string& p : r.simulated_providers) {
    absl::StrAppend(&out, "  simulated provider instead of ", p, "\n");
  }
  for (const std::string& n : r.notes) absl::StrAppend(&out, "  ", n, "\n");
  absl::StrAppend(&out, "  spend on metered lines: baseline ", telemetry::FormatUsd(r.baseline),
                  ", optimized ", telemetry::FormatUsd(r.optimized), " (reduction ",
                  Ratio(Reduction(r.optimized, r.baseline)), "); full §5 baseline ",
                  telemetry::FormatUsd(r.baseline_all), "\n\n");
  absl::StrAppend(&out, telemetry::KpiText(r.kpi), "\n");
  absl::StrAppend(&out, "Quality guards\n  decision equivalence: ", Ratio(r.decision_equivalence),
                  " (", r.equivalent, " of ", r.labelled, " labelled messages)\n",
                  "  cache false-hit rate: ", Ratio(r.cache_false_hit_rate));
  if (!r.cache_stage) {
    absl::StrAppend(&out, " (no `cache` stage in the optimized pipeline)");
  } else {
    absl::StrAppend(&out, " (", r.cache_false_hits, " of ", r.cache_hits_judged,
                    " cached answers with ground truth)");
  }
  absl::StrAppend(
      &out, "\n  language detection agrees with ground truth: ",
      Ratio(r.lang_labelled > 0
                ? std::optional<double>(static_cast<double>(r.lang_agreed) / r.lang_labelled)
                : std::nullopt),
      "");
  if (r.intent_labelled > 0) {
    absl::StrAppend(
        &out, "\n  intent classifier vs ground truth: ",
        Ratio(static_cast<double>(r.intent_agreed) / static_cast<double>(r.intent_labelled)),
        " agree (", r.intent_agreed, " of ", r.intent_labelled, "); ",
        Ratio(static_cast<double>(r.intent_covered) / static_cast<double>(r.intent_labelled)),
        " at or above the threshold, of which ",
        Ratio(r.intent_covered > 0 ? std::optional<double>(static_cast<double>(
                                                               r.intent_covered_agreed) /
                                                           static_cast<double>(r.intent_covered))
                                   : std::nullopt),
        " correct (synthetic phrasebook messages)");
  }
  absl::StrAppend(&out, "\n\nRoutes (optimized):");
  for (const auto& [route, n] : r.routes) absl::StrAppend(&out, " ", route, " ", n, ";");
  absl::StrAppend(&out, "\nRoutes (baseline):");
  for (const auto& [route, n] : r.baseline_routes) absl::StrAppend(&out, " ", route, " ", n, ";");
  if (!r.failures.empty()) {
    absl::StrAppend(&out, "\nFailed requests (optimized):");
    for (const auto& [code, n] : r.failures) absl::StrAppend(&out, " ", code, " ", n, ";");
  }
  absl::StrAppend(&out, "\n\nDaily LLM spend (Asia/Tokyo days) against the ",
                  telemetry::FormatUsd(r.daily_cap), " cap: ", CapStatus(r), "\n");
  for (const DayResult& d : r.days) {
    absl::StrAppend(&out, "  ", d.date, "  ", absl::StrFormat("%8d", d.messages),
                    " msgs  baseline ", telemetry::FormatUsd(d.baseline), "  optimized ",
                    telemetry::FormatUsd(d.optimized_llm),
                    d.optimized_llm > r.daily_cap ? "  OVER CAP" : "", "\n");
  }
  if (r.scenario != Scenario::kNone) {
    absl::StrAppend(&out, "\nScenario ", std::string(ScenarioName(r.scenario)), ": ",
                    r.scenario_status, " — ", r.scenario_note, "\n");
    if (r.scenario == Scenario::kProviderBrownout) {
      absl::StrAppend(&out, "  provider attempts ", r.llm_attempts, ", requests retried ",
                      r.retried_requests, ", answered by a fallback model ", r.fallback_requests,
                      "\n");
    }
  }
  return out;
}

std::string ReplayJson(const ReplayResult& r, std::optional<double> elapsed_s) {
  ordered_json j;
  j["messages"] = r.messages;
  j["requests"] = r.requests;
  j["elapsed_s"] = Optional(elapsed_s);
  j["messages_per_s"] = elapsed_s.has_value() && *elapsed_s > 0
                            ? ordered_json(r.messages / *elapsed_s)
                            : ordered_json();
  j["baseline_usd"] = Usd(r.baseline);
  j["optimized_usd"] = Usd(r.optimized);
  j["baseline_nanos"] = r.baseline.nanos();
  j["optimized_nanos"] = r.optimized.nanos();
  j["reduction"] = Optional(Reduction(r.optimized, r.baseline));
  j["baseline_all_components_usd"] = Usd(r.baseline_all);
  j["scope"] =
      "baseline_usd and optimized_usd cover the cost lines the optimized pipeline meters (the LLM "
      "lines, and any other line with a non-zero cost); baseline_all_components_usd is the whole "
      "SPEC §5 baseline";
  const telemetry::SliceKpi& all = r.kpi.slices.at(0);
  ordered_json stories = ordered_json::object();
  for (const telemetry::StoryKpi& k : all.stories) {
    ordered_json s;
    s["metric"] = k.metric;
    s["value"] = Optional(k.value);
    s["target"] = k.target;
    s["status"] = std::string(telemetry::KpiStatusName(k.status));
    s["note"] = k.note;
    s["baseline_usd"] = Usd(k.baseline);
    s["optimized_usd"] = Usd(k.actual);
    // Savings attributed to a story that is not measured would be a number made up by the
    // attribution rule (docs/events.md), not by the story: left out.
    s["savings_usd"] = k.status == telemetry::KpiStatus::kNoData ? ordered_json() : Usd(k.savings);
    stories[k.id] = std::move(s);
  }
  j["stories"] = std::move(stories);
  ordered_json quality;
  quality["decision_equivalence"] = Optional(r.decision_equivalence);
  quality["cache_false_hit_rate"] = Optional(r.cache_false_hit_rate);
  quality["labelled_messages"] = r.labelled;
  quality["cache_hits_judged"] = r.cache_hits_judged;
  quality["lang_agreement"] =
      Optional(r.lang_labelled > 0
                   ? std::optional<double>(static_cast<double>(r.lang_agreed) / r.lang_labelled)
                   : std::nullopt);
  auto share = [](int64_t a, int64_t b) {
    return b > 0 ? std::optional<double>(static_cast<double>(a) / static_cast<double>(b))
                 : std::nullopt;
  };
  quality["intent_labelled"] = r.intent_labelled;
  quality["intent_agreement"] = Optional(share(r.intent_agreed, r.intent_labelled));
  quality["intent_coverage"] = Optional(share(r.intent_covered, r.intent_labelled));
  quality["intent_precision_at_threshold"] =
      Optional(share(r.intent_covered_agreed, r.intent_covered));
  j["quality"] = std::move(quality);
  ordered_json by_lang = ordered_json::object();
  for (size_t i = 1; i < r.kpi.slices.size(); ++i) {
    const telemetry::SliceKpi& s = r.kpi.slices[i];
    ordered_json l;
    l["messages"] = s.requests;
    l["baseline_usd"] = Usd(s.metered_baseline);
    l["optimized_usd"] = Usd(s.metered_actual);
    l["reduction"] = Optional(s.reduction);
    ordered_json ls = ordered_json::object();
    for (const telemetry::StoryKpi& k : s.stories) {
      ls[k.id] = {{"value", Optional(k.value)},
                  {"status", std::string(telemetry::KpiStatusName(k.status))}};
    }
    l["stories"] = std::move(ls);
    by_lang[s.name] = std::move(l);
  }
  j["by_lang"] = std::move(by_lang);
  j["routes"] = r.routes;
  j["baseline_routes"] = r.baseline_routes;
  j["failures"] = {{"optimized", r.failures}, {"baseline", r.baseline_failures}};
  ordered_json days = ordered_json::array();
  for (const DayResult& d : r.days) {
    days.push_back(
        {{"date", d.date},
         {"messages", d.messages},
         {"baseline_llm_usd", Usd(d.baseline)},
         {"optimized_llm_usd", Usd(d.optimized_llm)},
         {"optimized_usd", Usd(d.optimized)},
         {"over_cap", d.optimized_llm > r.daily_cap},
         {"overshoot_usd", Usd(std::max(Money::Zero(), d.optimized_llm - r.daily_cap))}});
  }
  j["days"] = std::move(days);
  j["daily_cap"] = {
      {"cap_usd", Usd(r.daily_cap)},
      {"enforced", r.cap_enforced},
      {"status", r.cap_enforced ? (r.days_over_cap == 0 ? "held" : "broken") : "no data"},
      {"days_over_cap", r.days_over_cap},
      {"largest_overshoot_usd", Usd(r.largest_overshoot)},
      {"note", CapStatus(r)}};
  ordered_json scenario;
  scenario["name"] = std::string(ScenarioName(r.scenario));
  scenario["status"] = r.scenario_status.empty() ? ordered_json() : ordered_json(r.scenario_status);
  scenario["note"] = r.scenario_note;
  scenario["cap_held"] =
      r.cap_enforced && !r.days.empty() ? ordered_json(r.days_over_cap == 0) : ordered_json();
  scenario["largest_overshoot_usd"] = Usd(r.largest_overshoot);
  scenario["llm_attempts"] = r.llm_attempts;
  scenario["retried_requests"] = r.retried_requests;
  scenario["fallback_requests"] = r.fallback_requests;
  j["scenario"] = std::move(scenario);
  ordered_json bad;
  bad["count"] = r.bad_lines;
  bad["stopped"] = r.stopped_at_bad_line;
  bad["first"] = r.bad_line_errors;
  j["bad_lines"] = std::move(bad);
  j["out_of_order_lines"] = r.out_of_order;
  j["pipelines"] = {{"baseline", r.baseline_stages}, {"optimized", r.optimized_stages}};
  j["notes"] = r.notes;
  j["simulated_providers"] = r.simulated_providers;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

namespace {

// Pixels for `m` on a scale where `max` is `width` pixels; integer arithmetic only.
int Px(Money m, Money max, int width) {
  if (max.nanos() <= 0) return 0;
  return static_cast<int>(static_cast<__int128>(std::max<int64_t>(0, m.nanos())) * width /
                          max.nanos());
}

// Cumulative optimized LLM spend within each Asia/Tokyo day, hour by hour, against the cap.
std::string SpendChart(const ReplayResult& r) {
  constexpr int kW = 720, kH = 220, kLeft = 70, kTop = 16;
  if (r.hourly_llm.empty()) return "<p>No spend.</p>\n";
  std::vector<std::pair<int64_t, Money>> cumulative;
  Money running, peak;
  int64_t day = INT64_MIN;
  for (const auto& [hour, m] : r.hourly_llm) {
    const int64_t d = (hour + 9 * 3'600'000) / 86'400'000;
    if (d != day) running = Money::Zero();
    day = d;
    running += m;
    peak = std::max(peak, running);
    cumulative.emplace_back(hour, running);
  }
  const bool cap_in_view = r.daily_cap <= peak * 3;
  const Money top = cap_in_view ? std::max(peak, r.daily_cap) : peak;
  const int64_t t0 = cumulative.front().first, t1 = std::max(cumulative.back().first, t0 + 1);
  std::string svg = absl::StrFormat(
      "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"Daily LLM spend against the "
      "cap\">\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n",
      kLeft + kW + 20, kTop + kH + 40, kLeft, kTop + kH, kLeft + kW, kTop + kH);
  std::string points;
  for (const auto& [hour, m] : cumulative) {
    const int x = kLeft + static_cast<int>(static_cast<__int128>(hour - t0) * kW / (t1 - t0));
    const int y = kTop + kH - Px(m, top, kH);
    absl::StrAppendFormat(&points, "%d,%d ", x, y);
  }
  absl::StrAppendFormat(&svg, "<polyline points=\"%s\" class=\"spend\"/>\n", points);
  if (cap_in_view) {
    const int y = kTop + kH - Px(r.daily_cap, top, kH);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"cap\"/>"
                          "<text x=\"%d\" y=\"%d\">daily cap %s</text>\n",
                          kLeft, y, kLeft + kW, y, kLeft + 4, y - 4,
                          telemetry::HtmlEscape(telemetry::FormatUsd(r.daily_cap)));
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"0\" y=\"%d\">%s</text><text x=\"0\" y=\"%d\">$0</text>\n"
                        "<text x=\"%d\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\" "
                        "text-anchor=\"end\">%s</text>\n</svg>\n",
                        kTop + 10, telemetry::HtmlEscape(telemetry::FormatUsd(top)), kTop + kH,
                        kLeft, kTop + kH + 16, telemetry::HtmlEscape(FormatTraceTime(t0)),
                        kLeft + kW, kTop + kH + 16, telemetry::HtmlEscape(FormatTraceTime(t1)));
  if (!cap_in_view) {
    absl::StrAppend(&svg, "<p class=\"meta\">The daily cap (",
                    telemetry::HtmlEscape(telemetry::FormatUsd(r.daily_cap)),
                    ") is more than three times the highest day and is off the chart.</p>\n");
  }
  return svg;
}

// Horizontal bar pairs (baseline over optimized) per label.
std::string BarPairs(
    const std::vector<std::tuple<std::string, int64_t, int64_t, std::string, std::string>>& rows,
    std::string_view aria, int64_t scale_max = 0) {
  constexpr int kLabel = 110, kMax = 420, kBar = 13, kGroup = 34;
  // Bars are scaled to the largest value, or to `scale_max` when given (rates: 100%).
  int64_t max = std::max<int64_t>(1, scale_max);
  if (scale_max <= 0) {
    for (const auto& row : rows) max = std::max({max, std::get<1>(row), std::get<2>(row)});
  }
  std::string svg = absl::StrFormat(
      "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">\n"
      "<rect x=\"%d\" y=\"2\" width=\"12\" height=\"10\" class=\"b\"/><text x=\"%d\" "
      "y=\"11\">baseline</text><rect x=\"%d\" y=\"2\" width=\"12\" height=\"10\" class=\"a\"/>"
      "<text x=\"%d\" y=\"11\">optimized</text>\n",
      kLabel + kMax + 140, 20 + kGroup * static_cast<int>(rows.size()), telemetry::HtmlEscape(aria),
      kLabel, kLabel + 16, kLabel + 90, kLabel + 106);
  int y = 20;
  for (const auto& [label, b, a, bl, al] : rows) {
    const int lb = static_cast<int>(static_cast<__int128>(std::max<int64_t>(b, 0)) * kMax / max);
    const int la = static_cast<int>(static_cast<__int128>(std::max<int64_t>(a, 0)) * kMax / max);
    absl::StrAppendFormat(&svg,
                          "<text x=\"0\" y=\"%d\">%s</text>"
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"b\"/>"
                          "<text x=\"%d\" y=\"%d\">%s</text>"
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"a\"/>"
                          "<text x=\"%d\" y=\"%d\">%s</text>\n",
                          y + kBar + 2, telemetry::HtmlEscape(label), kLabel, y, lb, kBar,
                          kLabel + lb + 4, y + kBar - 2, telemetry::HtmlEscape(bl), kLabel,
                          y + kBar + 1, la, kBar, kLabel + la + 4, y + 2 * kBar - 1,
                          telemetry::HtmlEscape(al));
    y += kGroup;
  }
  return svg + "</svg>\n";
}

}  // namespace

std::string ReplayHtml(const ReplayResult& r) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>MangaAssist replay</title>\n<style>\n"
      "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\n"
      "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
      "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}\n"
      "td.num{text-align:right}.on{color:#1a7f37;font-weight:bold}"
      ".off{color:#c62828;font-weight:bold}.none{color:#888}\n"
      "svg text{font-size:12px;fill:#222}svg .b{fill:#9e9e9e}svg .a{fill:#1976d2}\n"
      "svg .spend{fill:none;stroke:#1976d2;stroke-width:2}svg .cap{stroke:#c62828;"
      "stroke-dasharray:6 4}svg .axis{stroke:#888}\np.meta{color:#555}\n"
      "</style>\n</head>\n<body>\n<h1>Counterfactual replay</h1>\n";
  absl::StrAppend(
      &out, "<p class=\"meta\">", r.messages, " messages, ", r.requests, " requests per run, ",
      r.bad_lines,
      " bad lines. Baseline pipeline: ", telemetry::HtmlEscape(Stages(r.baseline_stages)),
      ". Optimized pipeline: ", telemetry::HtmlEscape(Stages(r.optimized_stages)), ".</p>\n");
  for (const std::string& n : r.notes)
    absl::StrAppend(&out, "<p class=\"meta\">", telemetry::HtmlEscape(n), "</p>\n");
  if (r.scenario != Scenario::kNone) {
    absl::StrAppend(&out, "<p><b>Scenario ", telemetry::HtmlEscape(ScenarioName(r.scenario)),
                    "</b>: ", telemetry::HtmlEscape(r.scenario_status), " — ",
                    telemetry::HtmlEscape(r.scenario_note), "</p>\n");
  }
  absl::StrAppend(&out, "<p>Spend on metered lines: baseline <b>",
                  telemetry::HtmlEscape(telemetry::FormatUsd(r.baseline)), "</b>, optimized <b>",
                  telemetry::HtmlEscape(telemetry::FormatUsd(r.optimized)), "</b> (reduction ",
                  telemetry::HtmlEscape(Ratio(Reduction(r.optimized, r.baseline))),
                  "). Decision equivalence ", telemetry::HtmlEscape(Ratio(r.decision_equivalence)),
                  "; cache false-hit rate ", telemetry::HtmlEscape(Ratio(r.cache_false_hit_rate)),
                  ".</p>\n");

  absl::StrAppend(&out, "<h2>LLM spend over time against the daily cap</h2>\n<p class=\"meta\">",
                  telemetry::HtmlEscape(CapStatus(r)), "</p>\n", SpendChart(r));

  std::vector<std::tuple<std::string, int64_t, int64_t, std::string, std::string>> routes;
  std::map<std::string, std::pair<int64_t, int64_t>> merged;
  for (const auto& [k, n] : r.baseline_routes) merged[k].first = n;
  for (const auto& [k, n] : r.routes) merged[k].second = n;
  for (const auto& [k, v] : merged) {
    routes.emplace_back(k, v.first, v.second, std::to_string(v.first), std::to_string(v.second));
  }
  absl::StrAppend(&out, "<h2>Route mix</h2>\n", BarPairs(routes, "Requests per route"));

  std::vector<std::tuple<std::string, int64_t, int64_t, std::string, std::string>> langs;
  for (const auto& [k, v] : r.by_lang) {
    langs.emplace_back(absl::StrCat(k, " (", v.messages, ")"), v.baseline.nanos(),
                       v.optimized.nanos(), telemetry::FormatUsd(v.baseline),
                       telemetry::FormatUsd(v.optimized));
  }
  absl::StrAppend(&out, "<h2>Spend per language</h2>\n", BarPairs(langs, "Spend per language"));

  // Hit rates: US-03's combined cache hit rate per slice (the baseline has no cache: 0%).
  absl::StrAppend(&out, "<h2>Cache hit rate</h2>\n");
  if (!r.cache_stage) {
    absl::StrAppend(&out,
                    "<p class=\"meta\">No data: no <code>cache</code> stage in the "
                    "optimized pipeline.</p>\n");
  } else {
    std::vector<std::tuple<std::string, int64_t, int64_t, std::string, std::string>> hits;
    for (const telemetry::SliceKpi& s : r.kpi.slices) {
      const telemetry::StoryKpi& k = s.stories[static_cast<size_t>(telemetry::Story::kUs03)];
      const int64_t permille = k.value.has_value() ? static_cast<int64_t>(*k.value * 1000) : 0;
      hits.emplace_back(s.name, 0, permille, "0%", Ratio(k.value));
    }
    absl::StrAppend(&out, BarPairs(hits, "Cache hit rate per language", 1000));
  }

  absl::StrAppend(&out,
                  "<h2>Unified KPI Rollup</h2>\n<table>\n<thead><tr><th>Story</th><th>Headline "
                  "metric</th><th>Target</th><th>Baseline</th><th>Optimized</th><th>Value</th>"
                  "<th>Status</th><th>Note</th></tr></thead>\n<tbody>\n");
  for (const telemetry::StoryKpi& k : r.kpi.slices.at(0).stories) {
    const char* cls = k.status == telemetry::KpiStatus::kOnTrack    ? "on"
                      : k.status == telemetry::KpiStatus::kOffTrack ? "off"
                                                                    : "none";
    absl::StrAppend(
        &out, "<tr><td>", telemetry::HtmlEscape(k.id), " ", telemetry::HtmlEscape(k.title),
        "</td><td>", telemetry::HtmlEscape(k.metric), "</td><td>", telemetry::HtmlEscape(k.target),
        "</td><td class=\"num\">", telemetry::HtmlEscape(telemetry::FormatUsd(k.baseline)),
        "</td><td class=\"num\">", telemetry::HtmlEscape(telemetry::FormatUsd(k.actual)),
        "</td><td class=\"num\">", telemetry::HtmlEscape(Ratio(k.value)), "</td><td class=\"", cls,
        "\">", telemetry::HtmlEscape(telemetry::KpiStatusName(k.status)), "</td><td>",
        telemetry::HtmlEscape(k.note), "</td></tr>\n");
  }
  absl::StrAppend(&out,
                  "</tbody>\n</table>\n<h2>Per Asia/Tokyo day</h2>\n<table>\n<thead><tr>"
                  "<th>Day</th><th>Messages</th><th>Baseline LLM</th><th>Optimized LLM</th>"
                  "<th>Over the cap</th></tr></thead>\n<tbody>\n");
  for (const DayResult& d : r.days) {
    absl::StrAppend(
        &out, "<tr><td>", telemetry::HtmlEscape(d.date), "</td><td class=\"num\">", d.messages,
        "</td><td class=\"num\">", telemetry::HtmlEscape(telemetry::FormatUsd(d.baseline)),
        "</td><td class=\"num\">", telemetry::HtmlEscape(telemetry::FormatUsd(d.optimized_llm)),
        "</td><td>", d.optimized_llm > r.daily_cap ? "yes" : "no", "</td></tr>\n");
  }
  out += "</tbody>\n</table>\n</body>\n</html>\n";
  return out;
}

}  // namespace mangaassist::replay
