#include "core/metrics.h"

#include "gtest/gtest.h"

namespace mangaassist::core {
namespace {

TEST(MetricsTest, RendersCountersWithLabels) {
  Registry r;
  r.GetCounter("http_requests_total", "Requests.", {{"route", "/v1/chat"}, {"status", "200"}}).Inc(3);
  r.GetCounter("http_requests_total", "Requests.", {{"route", "/v1/chat"}, {"status", "200"}}).Inc();
  std::string text = r.RenderText();
  EXPECT_NE(text.find("# TYPE http_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("http_requests_total{route=\"/v1/chat\",status=\"200\"} 4"), std::string::npos)
      << text;
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndScaled) {
  Registry r;
  Histogram& h = r.GetHistogram("lat_seconds", "Latency.", {}, {100, 1000}, 1'000'000);
  h.Observe(50);
  h.Observe(500);
  h.Observe(5000);
  std::string text = r.RenderText();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.0001\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.001\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_sum 0.00555"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_count 3"), std::string::npos) << text;
}

TEST(MetricsTest, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace mangaassist::core
