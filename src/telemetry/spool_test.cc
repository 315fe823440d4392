#include "telemetry/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "gtest/gtest.h"
#include "telemetry/segment.h"

namespace mangaassist::telemetry {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "spool_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Record(int i) { return absl::StrCat(R"({"request_id":"req-)", i, R"(","n":)", i, "}"); }

std::vector<std::string> Files(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> ReadAll(Spool& spool, SpoolCursor from = {}) {
  std::vector<std::string> out;
  for (;;) {
    absl::StatusOr<std::vector<SpoolRecord>> batch = spool.ReadFrom(from, 7);
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok() || batch->empty()) break;
    for (SpoolRecord& r : *batch) out.push_back(std::move(r.payload));
    from = batch->back().next;
  }
  return out;
}

void AppendFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class SpoolTest : public ::testing::Test {
 protected:
  SpoolOptions Options() {
    SpoolOptions o;
    o.dir = dir_.path();
    o.metrics = &registry_;
    o.clock = &clock_;
    return o;
  }
  std::unique_ptr<Spool> Open(SpoolOptions o) {
    absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(std::move(o));
    EXPECT_TRUE(spool.ok()) << spool.status();
    return spool.ok() ? std::move(*spool) : nullptr;
  }
  int64_t Counter(const std::string& name, const core::Labels& labels = {}) {
    return registry_.GetCounter(name, "", labels).Value();
  }
  int64_t Gauge(const std::string& name) { return registry_.GetGauge(name, "").Value(); }

  TempDir dir_;
  core::Registry registry_;
  core::ManualClock clock_;
};

TEST(SegmentTest, RecordsRoundTripAndStopAtTheFirstBadOne) {
  std::string data;
  AppendEncodedRecord("alpha", &data);
  AppendEncodedRecord("", &data);
  AppendEncodedRecord("gamma", &data);
  ParseResult all = ParseRecords(data, kSegmentHeaderBytes);
  EXPECT_EQ(all.stop, ParseResult::Stop::kEnd);
  ASSERT_EQ(all.records.size(), 3u);
  EXPECT_EQ(all.records[1].length, 0u);
  EXPECT_EQ(all.valid_end, kSegmentHeaderBytes + data.size());

  ParseResult torn =
      ParseRecords(std::string_view(data).substr(0, data.size() - 2), kSegmentHeaderBytes);
  EXPECT_EQ(torn.stop, ParseResult::Stop::kTorn);
  EXPECT_EQ(torn.records.size(), 2u);
  EXPECT_EQ(torn.valid_end, all.records[2].offset);

  std::string flipped = data;
  flipped[kRecordHeaderBytes + 2] ^= 0x20;  // a payload byte of the first record
  ParseResult corrupt = ParseRecords(flipped, kSegmentHeaderBytes);
  EXPECT_EQ(corrupt.stop, ParseResult::Stop::kCorrupt);
  EXPECT_TRUE(corrupt.records.empty());
  EXPECT_EQ(corrupt.valid_end, kSegmentHeaderBytes);

  std::string zeros(64, '\0');  // a tail the filesystem zero-filled after a crash
  EXPECT_EQ(ParseRecords(zeros, kSegmentHeaderBytes).stop, ParseResult::Stop::kCorrupt);

  ParseResult limited = ParseRecords(data, kSegmentHeaderBytes, 1);
  EXPECT_EQ(limited.stop, ParseResult::Stop::kLimit);
  EXPECT_EQ(limited.records.size(), 1u);
}

TEST(SegmentTest, HeaderAndFileNames) {
  absl::StatusOr<SegmentHeader> h = DecodeSegmentHeader(EncodeSegmentHeader({.first_seq = 42}));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->first_seq, 42u);
  EXPECT_FALSE(DecodeSegmentHeader("MASP").ok());
  EXPECT_FALSE(DecodeSegmentHeader(std::string(16, 'x')).ok());

  EXPECT_EQ(SegmentFileName(7, false), "00000007.seg");
  EXPECT_EQ(SegmentFileName(7, true), "00000007.seg.zst");
  uint64_t index = 0;
  bool sealed = false;
  ASSERT_TRUE(ParseSegmentFileName("00000123.seg.zst", &index, &sealed));
  EXPECT_EQ(index, 123u);
  EXPECT_TRUE(sealed);
  EXPECT_FALSE(ParseSegmentFileName("00000123.seg.zst.tmp", &index, &sealed));
  EXPECT_FALSE(ParseSegmentFileName("cursor", &index, &sealed));
  EXPECT_FALSE(ParseSegmentFileName("12.seg", &index, &sealed));
}

TEST_F(SpoolTest, RoundTripAcknowledgesAndReadsInOrder) {
  auto spool = Open(Options());
  ASSERT_NE(spool, nullptr);
  uint64_t last = 0;
  for (int i = 1; i <= 100; ++i) {
    uint64_t seq = 0;
    ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost, &seq).ok());
    EXPECT_EQ(seq, static_cast<uint64_t>(i));
    last = seq;
  }
  ASSERT_TRUE(spool->WaitDurable(last, absl::Seconds(10)).ok());
  EXPECT_GE(spool->durable_seq(), last);

  absl::StatusOr<std::vector<SpoolRecord>> first = spool->ReadFrom({}, 3);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].seq, 1u);
  EXPECT_EQ((*first)[0].payload, Record(1));
  EXPECT_EQ((*first)[1].position, (*first)[0].next);

  std::vector<std::string> all = ReadAll(*spool);
  ASSERT_EQ(all.size(), 100u);
  for (int i = 1; i <= 100; ++i) EXPECT_EQ(all[i - 1], Record(i));
  EXPECT_EQ(Counter("mangaassist_telemetry_appended_total", {{"class", "cost"}}), 100);
  EXPECT_GE(Counter("mangaassist_telemetry_spool_fsyncs_total"), 1);
  EXPECT_GT(Counter("mangaassist_telemetry_spool_bytes_written_total"), 100 * 8);

  spool->Stop();
  EXPECT_EQ(spool->Append("late", RecordClass::kCost).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(spool->degraded());

  // Reopen: the same records, and sequence numbers continue.
  spool = Open(Options());
  EXPECT_EQ(ReadAll(*spool).size(), 100u);
  uint64_t seq = 0;
  ASSERT_TRUE(spool->Append(Record(101), RecordClass::kCost, &seq).ok());
  EXPECT_EQ(seq, 101u);
  EXPECT_FALSE(spool->degraded());
}

TEST_F(SpoolTest, ASecondSpoolOnTheSameDirectoryIsRefused) {
  absl::StatusOr<std::unique_ptr<Spool>> first = Spool::Open(Options());
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<Spool>> second = Spool::Open(Options());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(second.status().message().find("in use"), std::string_view::npos);
  first->reset();
  EXPECT_TRUE(Spool::Open(Options()).ok()) << "the lock goes with the spool";
}

TEST_F(SpoolTest, StopDrainsTheQueue) {
  auto spool = Open(Options());
  for (int i = 1; i <= 1000; ++i) ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost).ok());
  spool->Stop();
  EXPECT_EQ(spool->durable_seq(), 1000u);
  spool.reset();
  spool = Open(Options());
  EXPECT_EQ(ReadAll(*spool).size(), 1000u);
}

TEST_F(SpoolTest, SealsFullSegmentsWithZstdAndReadsBothForms) {
  SpoolOptions o = Options();
  o.segment_bytes = 4096;
  auto spool = Open(o);
  // Highly compressible JSON-like records.
  std::string pad(150, 'a');
  for (int i = 1; i <= 200; ++i) {
    ASSERT_TRUE(spool->Append(Record(i) + pad, RecordClass::kCost).ok());
  }
  ASSERT_TRUE(spool->Flush(absl::Seconds(10)).ok());
  EXPECT_GE(Files(dir_.path(), ".seg.zst").size(), 5u);
  EXPECT_EQ(Files(dir_.path(), ".seg").size(), 1u);  // the active segment
  EXPECT_GE(Counter("mangaassist_telemetry_spool_segments_sealed_total"), 5);
  EXPECT_GT(Gauge("mangaassist_telemetry_spool_compression_ratio_permille"), 3000);
  EXPECT_GT(Counter("mangaassist_telemetry_spool_sealed_raw_bytes_total"),
            3 * Counter("mangaassist_telemetry_spool_sealed_compressed_bytes_total"));

  std::vector<std::string> all = ReadAll(*spool);
  ASSERT_EQ(all.size(), 200u);
  for (int i = 1; i <= 200; ++i) ASSERT_EQ(all[i - 1], Record(i) + pad);

  // A sealed file decodes on its own.
  std::string sealed = Files(dir_.path(), ".seg.zst").front();
  absl::StatusOr<std::string> bytes = ReadSegmentBytes(sealed, true);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_TRUE(DecodeSegmentHeader(*bytes).ok());
  EXPECT_EQ(DecodeSegmentHeader(*bytes)->first_seq, 1u);
  ParseResult parsed =
      ParseRecords(std::string_view(*bytes).substr(kSegmentHeaderBytes), kSegmentHeaderBytes);
  EXPECT_EQ(parsed.stop, ParseResult::Stop::kEnd);
  EXPECT_GT(parsed.records.size(), 5u);

  spool.reset();
  spool = Open(o);
  EXPECT_EQ(ReadAll(*spool).size(), 200u);
}

TEST_F(SpoolTest, TornTailIsCutAndAppendsContinue) {
  {
    auto spool = Open(Options());
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost).ok());
    spool->Stop();
  }
  std::vector<std::string> segs = Files(dir_.path(), ".seg");
  ASSERT_EQ(segs.size(), 1u);
  const uint64_t good = fs::file_size(segs[0]);
  // Half of a record (a header claiming 100 bytes, 10 of them present), as a crash leaves it.
  std::string half;
  AppendEncodedRecord(std::string(100, 'z'), &half);
  AppendFile(segs[0], half.substr(0, kRecordHeaderBytes + 10));

  auto spool = Open(Options());
  EXPECT_EQ(fs::file_size(segs[0]), good);
  EXPECT_EQ(Counter("mangaassist_telemetry_spool_recovered_torn_bytes_total"),
            static_cast<int64_t>(kRecordHeaderBytes + 10));
  uint64_t seq = 0;
  ASSERT_TRUE(spool->Append(Record(11), RecordClass::kCost, &seq).ok());
  EXPECT_EQ(seq, 11u);
  ASSERT_TRUE(spool->WaitDurable(seq, absl::Seconds(10)).ok());
  std::vector<std::string> all = ReadAll(*spool);
  ASSERT_EQ(all.size(), 11u);
  for (int i = 1; i <= 11; ++i) EXPECT_EQ(all[i - 1], Record(i));
}

TEST_F(SpoolTest, GarbageTailIsCut) {
  {
    auto spool = Open(Options());
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost).ok());
  }
  std::vector<std::string> segs = Files(dir_.path(), ".seg");
  ASSERT_EQ(segs.size(), 1u);
  const uint64_t good = fs::file_size(segs[0]);
  AppendFile(segs[0], "this is not a record at all, just noise from a dying disk");
  auto spool = Open(Options());
  EXPECT_EQ(fs::file_size(segs[0]), good);
  EXPECT_EQ(ReadAll(*spool).size(), 5u);
}

TEST_F(SpoolTest, CorruptChecksumMidSegmentStopsThere) {
  {
    auto spool = Open(Options());
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost).ok());
  }
  std::vector<std::string> segs = Files(dir_.path(), ".seg");
  ASSERT_EQ(segs.size(), 1u);
  absl::StatusOr<std::string> bytes = ReadSegmentBytes(segs[0], false);
  ASSERT_TRUE(bytes.ok());
  ParseResult parsed =
      ParseRecords(std::string_view(*bytes).substr(kSegmentHeaderBytes), kSegmentHeaderBytes);
  ASSERT_EQ(parsed.records.size(), 10u);
  // Flip one payload byte of record 5 (index 4).
  const uint64_t at = parsed.records[4].offset + kRecordHeaderBytes + 3;
  {
    std::fstream f(segs[0], std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>((*bytes)[at] ^ 0x01));
  }
  absl::StatusOr<std::string> flipped = ReadSegmentBytes(segs[0], false);
  ParseResult reparsed =
      ParseRecords(std::string_view(*flipped).substr(kSegmentHeaderBytes), kSegmentHeaderBytes);
  EXPECT_EQ(reparsed.stop, ParseResult::Stop::kCorrupt);
  EXPECT_EQ(reparsed.records.size(), 4u);
  EXPECT_EQ(reparsed.valid_end, parsed.records[4].offset);

  auto spool = Open(Options());
  std::vector<std::string> all = ReadAll(*spool);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all.back(), Record(4));
  EXPECT_EQ(fs::file_size(segs[0]), parsed.records[4].offset);
}

TEST_F(SpoolTest, CommittedCursorResumesWithoutLossOrDuplicate) {
  SpoolOptions o = Options();
  o.segment_bytes = 512;  // many sealed segments, so commits delete some
  std::vector<std::string> delivered;
  {
    auto spool = Open(o);
    for (int i = 1; i <= 60; ++i) ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost).ok());
    ASSERT_TRUE(spool->Flush(absl::Seconds(10)).ok());
    const size_t sealed_before = Files(dir_.path(), ".seg.zst").size();
    ASSERT_GE(sealed_before, 3u);
    absl::StatusOr<std::vector<SpoolRecord>> batch = spool->ReadFrom(spool->committed(), 25);
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(batch->size(), 25u);
    for (const SpoolRecord& r : *batch) delivered.push_back(r.payload);
    ASSERT_TRUE(spool->Commit(batch->back().next).ok());
    EXPECT_EQ(spool->committed(), batch->back().next);
    EXPECT_LT(Files(dir_.path(), ".seg.zst").size(), sealed_before);  // consumed ones deleted
    EXPECT_GE(Counter("mangaassist_telemetry_spool_segments_deleted_total"), 1);
    // Read more but do not commit: a crash here replays these.
    ASSERT_TRUE(spool->ReadFrom(batch->back().next, 10).ok());
  }
  {
    auto spool = Open(o);
    SpoolCursor from = spool->committed();
    EXPECT_EQ(from.seq, 26u);
    for (int i = 61; i <= 70; ++i) ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost).ok());
    ASSERT_TRUE(spool->Flush(absl::Seconds(10)).ok());
    absl::StatusOr<std::vector<SpoolRecord>> batch = spool->ReadFrom(from, 30);
    ASSERT_TRUE(batch.ok());
    for (const SpoolRecord& r : *batch) delivered.push_back(r.payload);
    ASSERT_TRUE(spool->Commit(batch->back().next).ok());
  }
  {
    auto spool = Open(o);
    for (const std::string& p : ReadAll(*spool, spool->committed())) delivered.push_back(p);
  }
  ASSERT_EQ(delivered.size(), 70u);
  for (int i = 1; i <= 70; ++i) EXPECT_EQ(delivered[i - 1], Record(i));
}

TEST_F(SpoolTest, QuotaShedsSampledFirstAndRefusesCostLoudly) {
  SpoolOptions o = Options();
  o.quota_bytes = 8192;
  o.cost_reserve_percent = 25;  // sampled records stop at 6 KiB
  auto spool = Open(o);
  const std::string payload(200, 's');  // 208 bytes framed
  int sampled_accepted = 0;
  for (int i = 0; i < 40; ++i) {
    uint64_t seq = 0;
    ASSERT_TRUE(spool->Append(payload, RecordClass::kSampled, &seq).ok());  // shed, not an error
    if (seq != 0) ++sampled_accepted;
  }
  EXPECT_GT(sampled_accepted, 20);
  EXPECT_LT(sampled_accepted, 40);
  EXPECT_EQ(Counter("mangaassist_telemetry_dropped_total", {{"class", "sampled"}}),
            40 - sampled_accepted);
  EXPECT_FALSE(spool->degraded());

  // Cost records still fit in the reserve...
  int cost_accepted = 0;
  absl::Status refused;
  for (int i = 0; i < 20 && refused.ok(); ++i) {
    refused = spool->Append(std::string(200, 'c'), RecordClass::kCost);
    if (refused.ok()) ++cost_accepted;
  }
  EXPECT_GT(cost_accepted, 3);
  // ...until the quota itself is full: refused, counted, degraded.
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Counter("mangaassist_telemetry_cost_events_refused_total"), 1);
  EXPECT_TRUE(spool->degraded());
  EXPECT_EQ(Gauge("mangaassist_telemetry_spool_degraded"), 1);
  EXPECT_NE(registry_.RenderText().find("mangaassist_telemetry_spool_degraded 1"),
            std::string::npos);

  // Consuming frees nothing while everything sits in the active segment; once the shipper
  // catches up and the segment is sealed and deleted, cost records flow again.
  ASSERT_TRUE(spool->Flush(absl::Seconds(10)).ok());
  std::vector<std::string> all = ReadAll(*spool);
  EXPECT_EQ(all.size(), static_cast<size_t>(sampled_accepted + cost_accepted));
}

TEST_F(SpoolTest, QuotaFreedByConsumptionClearsDegraded) {
  SpoolOptions o = Options();
  o.quota_bytes = 6000;
  o.segment_bytes = 1024;
  auto spool = Open(o);
  absl::Status status;
  int accepted = 0;
  while ((status = spool->Append(std::string(100, 'c'), RecordClass::kCost)).ok()) ++accepted;
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(spool->degraded());
  ASSERT_TRUE(spool->Flush(absl::Seconds(10)).ok());
  // Ship everything and commit: sealed segments are deleted, the quota has room again.
  SpoolCursor at = spool->committed();
  for (;;) {
    absl::StatusOr<std::vector<SpoolRecord>> batch = spool->ReadFrom(at, 100);
    ASSERT_TRUE(batch.ok());
    if (batch->empty()) break;
    at = batch->back().next;
  }
  ASSERT_TRUE(spool->Commit(at).ok());
  EXPECT_LT(spool->disk_bytes(), 2048u);
  EXPECT_TRUE(spool->Append(std::string(100, 'c'), RecordClass::kCost).ok());
  EXPECT_FALSE(spool->degraded());
  EXPECT_EQ(Gauge("mangaassist_telemetry_spool_degraded"), 0);
}

TEST_F(SpoolTest, IntervalPolicySyncsOnTheInjectedClock) {
  SpoolOptions o = Options();
  o.fsync_policy = FsyncPolicy::kInterval;
  o.fsync_interval = absl::Seconds(5);
  auto spool = Open(o);
  const int64_t fsyncs = Counter("mangaassist_telemetry_spool_fsyncs_total");
  uint64_t seq = 0;
  ASSERT_TRUE(spool->Append(Record(1), RecordClass::kCost, &seq).ok());
  ASSERT_TRUE(spool->Append(Record(2), RecordClass::kCost, &seq).ok());
  // Written (soon) but not acknowledged: the manual clock has not reached the interval.
  EXPECT_EQ(spool->WaitDurable(seq, absl::Milliseconds(150)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Counter("mangaassist_telemetry_spool_fsyncs_total"), fsyncs);
  EXPECT_TRUE(ReadAll(*spool).empty());  // consumers only see acknowledged records

  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(spool->WaitDurable(seq, absl::Seconds(10)).ok());
  EXPECT_EQ(Counter("mangaassist_telemetry_spool_fsyncs_total"), fsyncs + 1);
  EXPECT_EQ(ReadAll(*spool).size(), 2u);

  // Flush forces a sync without the clock.
  ASSERT_TRUE(spool->Append(Record(3), RecordClass::kCost, &seq).ok());
  ASSERT_TRUE(spool->Flush(absl::Seconds(10)).ok());
  EXPECT_EQ(spool->durable_seq(), seq);
}

TEST_F(SpoolTest, DurableCallbackSeesEveryAck) {
  SpoolOptions o = Options();
  std::atomic<uint64_t> seen{0};
  o.on_durable = [&seen](uint64_t s) { seen.store(s); };
  auto spool = Open(o);
  uint64_t seq = 0;
  for (int i = 1; i <= 50; ++i)
    ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost, &seq).ok());
  ASSERT_TRUE(spool->WaitDurable(seq, absl::Seconds(10)).ok());
  EXPECT_EQ(seen.load(), 50u);
}

TEST_F(SpoolTest, InterruptedSealIsFinishedOnOpen) {
  SpoolOptions o = Options();
  o.segment_bytes = 512;
  {
    auto spool = Open(o);
    for (int i = 1; i <= 40; ++i) ASSERT_TRUE(spool->Append(Record(i), RecordClass::kCost).ok());
  }
  // Simulate crashes mid-seal: a stray temp file, and a sealed segment whose unsealed twin was
  // not yet removed.
  std::vector<std::string> sealed = Files(dir_.path(), ".seg.zst");
  ASSERT_GE(sealed.size(), 2u);
  AppendFile(sealed[0] + ".tmp", "partial zstd");
  absl::StatusOr<std::string> raw = ReadSegmentBytes(sealed[1], true);
  ASSERT_TRUE(raw.ok());
  const std::string twin = sealed[1].substr(0, sealed[1].size() - 4);
  AppendFile(twin, *raw);

  auto spool = Open(o);
  EXPECT_TRUE(Files(dir_.path(), ".tmp").empty());
  EXPECT_FALSE(fs::exists(twin));
  std::vector<std::string> all = ReadAll(*spool);
  ASSERT_EQ(all.size(), 40u);
  for (int i = 1; i <= 40; ++i) EXPECT_EQ(all[i - 1], Record(i));
}

TEST_F(SpoolTest, RejectsBadOptionsAndOversizedRecords) {
  SpoolOptions o = Options();
  o.dir = "";
  EXPECT_FALSE(Spool::Open(o).ok());
  o = Options();
  o.segment_bytes = 4;
  EXPECT_FALSE(Spool::Open(o).ok());
  auto spool = Open(Options());
  EXPECT_EQ(spool->Append(std::string(kMaxRecordBytes + 1, 'x'), RecordClass::kCost).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Counter("mangaassist_telemetry_cost_events_refused_total"), 1);
}

}  // namespace
}  // namespace mangaassist::telemetry
