// Internal to the flag evaluator: where flag values come from. A source returns the values it
// holds (a subset of the registry) and writes changes atomically. Not thread-safe: the
// evaluator serializes every call. Not API.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mangaassist::control::internal {

using FlagValues = std::map<std::string, bool>;

class FlagSource {
 public:
  virtual ~FlagSource() = default;
  // The values the source holds now; nullopt when nothing changed since the last successful
  // read (the file's mtime, size and content hash are the same). An error when the source is
  // unreachable or holds something invalid (an unknown name, a non-boolean).
  virtual absl::StatusOr<std::optional<FlagValues>> Read() = 0;
  // Applies `changes` in one atomic write and returns, per changed name, the value the source
  // held before (absent when it held none).
  virtual absl::StatusOr<FlagValues> Write(const FlagValues& changes) = 0;
};

// In memory, starting from `initial` (source: config).
std::unique_ptr<FlagSource> NewMemoryFlagSource(FlagValues initial);
// A YAML map `name: true|false` in `path`; a missing file is unreachable for Read() and created
// by Write(). Writes go to a temporary file, fsync, rename, under an flock on `path`.lock.
std::unique_ptr<FlagSource> NewFileFlagSource(std::string path);
// The Redis hash `key` at `url` (redis://[:pw@]host[:port][/db], db 0 by default).
absl::StatusOr<std::unique_ptr<FlagSource>> NewRedisFlagSource(const std::string& url,
                                                               std::string key,
                                                               absl::Duration timeout);

// Parses a flags file's text ("FILE:LINE: problem" errors). Empty text is an empty map.
absl::StatusOr<FlagValues> ParseFlagsYaml(const std::string& text, const std::string& source_name);
// The file Write() produces: a header comment, then `name: bool` in registry order.
std::string FormatFlagsYaml(const FlagValues& values);

}  // namespace mangaassist::control::internal
