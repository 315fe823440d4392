// `mangaassist flags list|get|set` and `mangaassist audit verify|list` (US-08): the flag
// evaluator and the audit trail of the config's source and store — the same ones the gateway
// uses, so a kill switch flipped here reaches every replica reading that file or Redis hash, and
// lands in the same audit trail.
#pragma once

#include <iosfwd>
#include <string>

namespace mangaassist::cli {

struct FlagsOptions {
  std::string config_path;  // empty = embedded defaults
  bool json = false;
  std::string name;    // get, set
  std::string value;   // set: true|false
  std::string reason;  // set: required
  std::string actor;   // set: default $USER
};

// 0 on success; 2 on a usage or config error (unknown flag, source: config for set); 1 when the
// source or the audit store fails.
int RunFlagsList(const FlagsOptions& options, std::ostream& out, std::ostream& err);
int RunFlagsGet(const FlagsOptions& options, std::ostream& out, std::ostream& err);
int RunFlagsSet(const FlagsOptions& options, std::ostream& out, std::ostream& err);

struct AuditOptions {
  std::string config_path;  // empty = embedded defaults
  bool json = false;
  std::string expect_head;  // verify: an anchor recorded earlier
  int64_t after = 0;        // list
  int limit = 100;          // list
};

// verify: 0 when the chain is intact, 1 (naming the first bad seq and the problem) when not,
// 2 when it cannot be checked (config error, store unreachable).
int RunAuditVerify(const AuditOptions& options, std::ostream& out, std::ostream& err);
// list: 0, or 2 on a config or store error.
int RunAuditList(const AuditOptions& options, std::ostream& out, std::ostream& err);

}  // namespace mangaassist::cli
