#include "telemetry/segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "xxhash.h"
#include "zstd.h"

namespace mangaassist::telemetry {
namespace {

constexpr char kMagic[4] = {'M', 'A', 'S', 'P'};
// ZSTD_FRAMEHEADERSIZE_MAX, which zstd.h only exposes to static linking.
constexpr uint64_t kZstdFrameHeaderMax = 18;

void PutU32(uint32_t v, char* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutU64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error (close can report a deferred write error).
  absl::Status Close(const std::string& what) {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return ErrnoStatus(errno, "close " + what);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
  if (static_cast<uint64_t>(st.st_size) > kMaxSegmentBytes) {
    return absl::DataLossError(absl::StrCat(path, ": file larger than any segment"));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read " + path);
    }
    if (n == 0) break;  // shrank under us
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

std::string EncodeSegmentHeader(const SegmentHeader& header) {
  std::string out(kSegmentHeaderBytes, '\0');
  std::memcpy(out.data(), kMagic, 4);
  PutU32(kSegmentVersion, out.data() + 4);
  PutU64(header.first_seq, out.data() + 8);
  return out;
}

absl::StatusOr<SegmentHeader> DecodeSegmentHeader(std::string_view data) {
  if (data.size() < kSegmentHeaderBytes) return absl::DataLossError("segment header is torn");
  if (std::memcmp(data.data(), kMagic, 4) != 0) {
    return absl::DataLossError("not a spool segment (bad magic)");
  }
  uint32_t version = GetU32(data.data() + 4);
  if (version != kSegmentVersion) {
    return absl::DataLossError(absl::StrCat("unknown spool segment version ", version));
  }
  return SegmentHeader{.first_seq = GetU64(data.data() + 8)};
}

uint32_t RecordChecksum(std::string_view payload) {
  return static_cast<uint32_t>(XXH3_64bits_withSeed(payload.data(), payload.size(),
                                                    static_cast<XXH64_hash_t>(payload.size())));
}

void AppendEncodedRecord(std::string_view payload, std::string* out) {
  char head[kRecordHeaderBytes];
  PutU32(static_cast<uint32_t>(payload.size()), head);
  PutU32(RecordChecksum(payload), head + 4);
  out->append(head, kRecordHeaderBytes);
  out->append(payload.data(), payload.size());
}

ParseResult ParseRecords(std::string_view data, uint64_t base_offset, size_t max_records) {
  ParseResult result;
  size_t pos = 0;
  while (true) {
    result.valid_end = base_offset + pos;
    if (pos == data.size()) {
      result.stop = ParseResult::Stop::kEnd;
      break;
    }
    if (result.records.size() >= max_records) {
      result.stop = ParseResult::Stop::kLimit;
      break;
    }
    if (data.size() - pos < kRecordHeaderBytes) {
      result.stop = ParseResult::Stop::kTorn;
      break;
    }
    uint32_t length = GetU32(data.data() + pos);
    uint32_t checksum = GetU32(data.data() + pos + 4);
    if (length > kMaxRecordBytes) {
      result.stop = ParseResult::Stop::kCorrupt;
      break;
    }
    if (data.size() - pos - kRecordHeaderBytes < length) {
      result.stop = ParseResult::Stop::kTorn;
      break;
    }
    if (RecordChecksum(data.substr(pos + kRecordHeaderBytes, length)) != checksum) {
      result.stop = ParseResult::Stop::kCorrupt;
      break;
    }
    result.records.push_back({base_offset + pos, length});
    pos += kRecordHeaderBytes + length;
  }
  return result;
}

std::string SegmentFileName(uint64_t index, bool sealed) {
  return absl::StrFormat("%08d.seg%s", index, sealed ? ".zst" : "");
}

bool ParseSegmentFileName(std::string_view name, uint64_t* index, bool* sealed) {
  size_t digits = 0;
  uint64_t v = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(name[digits] - '0');
    ++digits;
  }
  if (digits < 8) return false;
  std::string_view rest = name.substr(digits);
  if (rest == ".seg") {
    *sealed = false;
  } else if (rest == ".seg.zst") {
    *sealed = true;
  } else {
    return false;
  }
  *index = v;
  return true;
}

absl::StatusOr<std::string> ReadSegmentBytes(const std::string& path, bool sealed) {
  absl::StatusOr<std::string> file = ReadWholeFile(path);
  if (!file.ok() || !sealed) return file;
  unsigned long long size = ZSTD_getFrameContentSize(file->data(), file->size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
      size > kMaxSegmentBytes) {
    return absl::DataLossError(absl::StrCat(path, ": not a complete zstd segment frame"));
  }
  std::string out(static_cast<size_t>(size), '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), file->data(), file->size());
  if (ZSTD_isError(n) || n != out.size()) {
    return absl::DataLossError(
        absl::StrCat(path, ": zstd: ", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
  }
  return out;
}

absl::StatusOr<uint64_t> SealedSegmentRawBytes(const std::string& path) {
  absl::StatusOr<std::string> head = ReadFileRange(path, 0, kZstdFrameHeaderMax);
  if (!head.ok()) return head.status();
  unsigned long long size = ZSTD_getFrameContentSize(head->data(), head->size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
      size > kMaxSegmentBytes) {
    return absl::DataLossError(absl::StrCat(path, ": not a spool segment zstd frame"));
  }
  return static_cast<uint64_t>(size);
}

absl::StatusOr<std::string> ReadFileRange(const std::string& path, uint64_t offset,
                                          uint64_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open " + path);
  std::string out(static_cast<size_t>(max_bytes), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read " + path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open " + dir);
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync " + dir);
  return absl::OkStatus();
}

absl::Status WriteFileDurably(const std::string& dir, const std::string& name,
                              std::string_view data) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoStatus(errno, "create " + tmp);
  if (absl::Status s = WriteAll(fd.get(), data, tmp); !s.ok()) return s;
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync " + tmp);
  if (absl::Status s = fd.Close(tmp); !s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "rename " + tmp);
  return FsyncDir(dir);
}

absl::StatusOr<SealResult> SealSegment(const std::string& dir, uint64_t index, uint64_t valid_bytes,
                                       int zstd_level) {
  // Streamed through zstd in 1 MiB pieces: memory stays a few MiB whatever the segment size (a
  // whole-file read plus a compressBound buffer cost 2× the segment per seal).
  constexpr size_t kPiece = 1 << 20;
  const std::string raw_path = dir + "/" + SegmentFileName(index, false);
  const std::string name = SegmentFileName(index, true);
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  Fd in(::open(raw_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return ErrnoStatus(errno, "open " + raw_path);
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (out.get() < 0) return ErrnoStatus(errno, "create " + tmp);
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (cctx == nullptr) return absl::ResourceExhaustedError("zstd: cannot create a context");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, zstd_level);
  ZSTD_CCtx_setPledgedSrcSize(cctx.get(), valid_bytes);
  std::string input(kPiece, '\0');
  std::string output(ZSTD_CStreamOutSize(), '\0');
  uint64_t read_total = 0, written_total = 0;
  bool last = valid_bytes == 0;
  while (true) {
    size_t got = 0;
    if (!last) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kPiece, valid_bytes - read_total));
      ssize_t n = ::pread(in.get(), input.data(), want, static_cast<off_t>(read_total));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "read " + raw_path);
      }
      if (n == 0) {
        return absl::DataLossError(absl::StrCat(raw_path, ": shorter than its durable length"));
      }
      got = static_cast<size_t>(n);
      read_total += got;
      last = read_total == valid_bytes;
    }
    ZSTD_inBuffer zin{input.data(), got, 0};
    const ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      ZSTD_outBuffer zout{output.data(), output.size(), 0};
      const size_t remaining = ZSTD_compressStream2(cctx.get(), &zout, &zin, mode);
      if (ZSTD_isError(remaining)) {
        return absl::InternalError(
            absl::StrCat("zstd compress ", raw_path, ": ", ZSTD_getErrorName(remaining)));
      }
      if (absl::Status s = WriteAll(out.get(), std::string_view(output.data(), zout.pos), tmp);
          !s.ok()) {
        return s;
      }
      written_total += zout.pos;
      const bool done = last ? remaining == 0 : zin.pos == zin.size;
      if (done) break;
    }
    if (last) break;
  }
  if (::fsync(out.get()) != 0) return ErrnoStatus(errno, "fsync " + tmp);
  if (absl::Status s = out.Close(tmp); !s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "rename " + tmp);
  if (absl::Status s = FsyncDir(dir); !s.ok()) return s;
  // The sealed file is durable; the unsealed twin is now redundant (recovery removes it too).
  if (::unlink(raw_path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink " + raw_path);
  }
  return SealResult{.raw_bytes = valid_bytes, .compressed_bytes = written_total};
}

}  // namespace mangaassist::telemetry
