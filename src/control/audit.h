// AuditLog: the append-only, hash-chained audit trail of US-08 (every flag change, budget change,
// breaker transition and kill switch). Each entry carries the SHA-256 of the previous one, so an
// edited, deleted or re-ordered entry breaks the chain and Verify() names the first bad seq.
// Backends: SQLite (embedded) and PostgreSQL (shared by replicas); both refuse UPDATE and DELETE
// with triggers and keep a head record (`audit_head`, written in the same transaction as the
// entry) so a truncated tail is caught too. Someone who can drop the triggers *and* rewrite the
// head consistently can only be caught by an external anchor: record `head_hash` elsewhere and
// check it later with VerifyWithAnchor() / `mangaassist audit verify --expect-head`.
// Implementations are thread-safe; appenders in several processes on one store keep one chain.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/config.h"

namespace mangaassist::control {

// Who did it and why; request_id ties the entry to the HTTP request or CLI run.
struct AuditContext {
  std::string actor;
  std::string reason;
  std::string request_id;
};

struct AuditRecord {
  std::string action;         // "flag.set", "budget.set", "breaker.transition", "kill_switch", ...
  std::string subject;        // e.g. the flag name, "deployment", "tenant:acme"
  std::string before, after;  // free text / JSON
  AuditContext who;
};

struct AuditEntry {
  int64_t seq = 0;    // 1, 2, 3, ... with no gaps
  int64_t ts_ms = 0;  // unix milliseconds from the injected clock
  AuditRecord record;
  std::string prev_hash;  // lower-case hex SHA-256; kGenesisHash for seq 1
  std::string hash;
};

struct VerifyResult {
  bool ok = true;
  int64_t entries = 0;        // rows read
  int64_t first_bad_seq = 0;  // 0 when ok
  std::string problem;        // empty when ok
  std::string head_hash;      // hash of the last entry (kGenesisHash when empty): anchor it
};

// prev_hash of the first entry: 64 zeros.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// hex(SHA-256(prev_hash || canonical)), where canonical is the tag "mangaassist.audit.v1" and
// then seq and ts_ms as 8-byte big-endian integers and action, subject, before, after, actor,
// reason, request_id, each as an 8-byte big-endian length followed by its bytes. Unambiguous:
// no two different entries serialize alike. Thread-safe.
std::string AuditEntryHash(std::string_view prev_hash, int64_t seq, int64_t ts_ms,
                           const AuditRecord& record);

class AuditLog {  // thread-safe
 public:
  virtual ~AuditLog() = default;
  // Appends one entry at the head of the chain. InvalidArgument for a field that is not UTF-8
  // or holds a NUL (both backends store text) or an empty action; Unavailable when the store
  // cannot be reached.
  virtual absl::StatusOr<AuditEntry> Append(const AuditRecord& r) = 0;
  // Up to `limit` entries with seq > after_seq, in seq order.
  virtual absl::StatusOr<std::vector<AuditEntry>> List(int64_t after_seq, int limit) = 0;
  // Reads the whole chain in one snapshot and checks every link and the head record. A broken
  // chain is ok=false with the first bad seq, not an error; errors are store failures.
  virtual absl::StatusOr<VerifyResult> Verify() = 0;
};

// Verify(), and then that an entry with hash `expect_head` (an anchor recorded earlier, outside
// the store) is still in the chain: catches a tail cut by someone who also rewrote the head
// record. An empty `expect_head` is plain Verify().
absl::StatusOr<VerifyResult> VerifyWithAnchor(AuditLog& log, std::string_view expect_head);

// The store named by `config`: sqlite (sqlite_path as given, ":memory:" for a private in-memory
// trail; resolve data_dir-relative paths first) or postgres (conninfo). `clock` stamps entries;
// null means the system clock.
absl::StatusOr<std::unique_ptr<AuditLog>> OpenAuditLog(const core::AuditConfig& config,
                                                       const core::Clock* clock);
absl::StatusOr<std::unique_ptr<AuditLog>> OpenSqliteAuditLog(const std::string& path,
                                                             const core::Clock* clock);
absl::StatusOr<std::unique_ptr<AuditLog>> OpenPostgresAuditLog(const std::string& conninfo,
                                                               const core::Clock* clock);

}  // namespace mangaassist::control
