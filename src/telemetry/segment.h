// Spool segment files (US-07): the on-disk format of the durable telemetry spool (spool.h).
// A segment is a 16-byte header (magic "MASP", u32 version, u64 sequence number of its first
// record) followed by records `[u32 length][u32 checksum][payload]`, integers little-endian, the
// checksum the low 32 bits of XXH3-64 of the payload seeded with its length (so a flipped length
// fails the check too). An active segment `NNNNNNNN.seg` only grows; once full it is sealed into
// `NNNNNNNN.seg.zst` (the whole file, one zstd frame) by write-temp + fsync + rename.
// Parsing stops at the first torn or corrupt record and reports the valid length, which is what
// recovery truncates to. Pure functions and file helpers; thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mangaassist::telemetry {

inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 16;
inline constexpr size_t kRecordHeaderBytes = 8;
// A length above this is treated as corruption, not as a record to allocate for.
inline constexpr uint32_t kMaxRecordBytes = 16u << 20;
// A sealed segment that claims to decompress to more than this is refused (corrupt frame).
inline constexpr uint64_t kMaxSegmentBytes = 1ull << 30;

struct SegmentHeader {
  uint64_t first_seq = 0;  // sequence number of the segment's first record
};

std::string EncodeSegmentHeader(const SegmentHeader& header);
// DataLoss for a short buffer, a wrong magic or an unknown version.
absl::StatusOr<SegmentHeader> DecodeSegmentHeader(std::string_view data);

uint32_t RecordChecksum(std::string_view payload);
// Appends the framed record to `out`. REQUIRES: payload.size() <= kMaxRecordBytes.
void AppendEncodedRecord(std::string_view payload, std::string* out);
inline uint64_t EncodedRecordBytes(size_t payload_bytes) {
  return kRecordHeaderBytes + payload_bytes;
}

// Where a record sits in a segment: `offset` of its frame (absolute in the segment file) and
// its payload length; the payload starts at offset + kRecordHeaderBytes.
struct RecordLocation {
  uint64_t offset = 0;
  uint32_t length = 0;
};

struct ParseResult {
  enum class Stop {
    kEnd,      // consumed the buffer exactly
    kLimit,    // returned max_records records; more may follow
    kTorn,     // the buffer ends inside a record (an interrupted append)
    kCorrupt,  // checksum mismatch or impossible length
  };
  std::vector<RecordLocation> records;
  uint64_t valid_end = 0;  // absolute offset just past the last good record
  Stop stop = Stop::kEnd;
};

// Parses records from `data`, whose first byte is at absolute segment offset `base_offset`
// (>= kSegmentHeaderBytes), up to `max_records`.
ParseResult ParseRecords(std::string_view data, uint64_t base_offset,
                         size_t max_records = SIZE_MAX);

// `00000042.seg` / `00000042.seg.zst`.
std::string SegmentFileName(uint64_t index, bool sealed);
// Parses the names above; false for anything else (temp files, the cursor).
bool ParseSegmentFileName(std::string_view name, uint64_t* index, bool* sealed);

// The whole logical (uncompressed) segment: the file itself, or the zstd frame decompressed.
// NotFound when the file is gone; DataLoss when a sealed frame does not decode.
absl::StatusOr<std::string> ReadSegmentBytes(const std::string& path, bool sealed);

// The logical length of a sealed segment, from its zstd frame header (no decompression).
absl::StatusOr<uint64_t> SealedSegmentRawBytes(const std::string& path);

// Up to `max_bytes` of an unsealed segment file starting at `offset`.
absl::StatusOr<std::string> ReadFileRange(const std::string& path, uint64_t offset,
                                          uint64_t max_bytes);

struct SealResult {
  uint64_t raw_bytes = 0;
  uint64_t compressed_bytes = 0;
};
// Seals `dir/NNNNNNNN.seg` into `dir/NNNNNNNN.seg.zst`: compresses the first `valid_bytes` of it
// into a temp file, fsyncs, renames over the final name, fsyncs the directory and removes the
// unsealed file. A crash at any point leaves either the unsealed file or the sealed one
// complete (recovery removes the unsealed twin of a sealed file and stray temp files).
absl::StatusOr<SealResult> SealSegment(const std::string& dir, uint64_t index, uint64_t valid_bytes,
                                       int zstd_level);

// Small POSIX helpers shared with spool.cc.
absl::Status WriteAll(int fd, std::string_view data, const std::string& what);
absl::Status FsyncDir(const std::string& dir);
// Writes `data` to `path` atomically and durably (temp file, fsync, rename, directory fsync).
absl::Status WriteFileDurably(const std::string& dir, const std::string& name,
                              std::string_view data);
absl::Status ErrnoStatus(int err, const std::string& what);

}  // namespace mangaassist::telemetry
