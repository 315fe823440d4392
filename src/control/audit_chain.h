// Internal to the audit backends: record validation, the chain walk Verify() shares, and the
// head record. Not API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "control/audit.h"

namespace mangaassist::control::internal {

// InvalidArgument unless action is set and every field is UTF-8 without NUL.
absl::Status ValidateRecord(const AuditRecord& r);

// The `audit_head` row: the seq and hash of the last entry appended.
struct AuditHead {
  int64_t seq = 0;
  std::string hash;
};

// Walks entries in seq order and reports the first break. Not thread-safe.
class ChainVerifier {
 public:
  void Add(const AuditEntry& e);
  VerifyResult Finish(const std::optional<AuditHead>& head);

 private:
  void Fail(int64_t seq, std::string problem);

  VerifyResult result_;
  int64_t expected_seq_ = 1;
  std::string prev_hash_{kGenesisHash};
};

}  // namespace mangaassist::control::internal
