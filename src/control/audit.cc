#include "control/audit.h"

#include <openssl/evp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "control/audit_chain.h"
#include "core/utf8.h"

namespace mangaassist::control {
namespace {

void PutU64(EVP_MD_CTX* ctx, uint64_t v) {
  unsigned char b[8];
  for (int i = 7; i >= 0; --i) {
    b[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
  EVP_DigestUpdate(ctx, b, sizeof b);
}

void PutField(EVP_MD_CTX* ctx, std::string_view s) {
  PutU64(ctx, s.size());
  EVP_DigestUpdate(ctx, s.data(), s.size());
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

std::string AuditEntryHash(std::string_view prev_hash, int64_t seq, int64_t ts_ms,
                           const AuditRecord& record) {
  static constexpr std::string_view kTag = "mangaassist.audit.v1";
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), prev_hash.data(), prev_hash.size());
  PutField(ctx.get(), kTag);
  PutU64(ctx.get(), static_cast<uint64_t>(seq));
  PutU64(ctx.get(), static_cast<uint64_t>(ts_ms));
  for (std::string_view f :
       {std::string_view(record.action), std::string_view(record.subject),
        std::string_view(record.before), std::string_view(record.after),
        std::string_view(record.who.actor), std::string_view(record.who.reason),
        std::string_view(record.who.request_id)}) {
    PutField(ctx.get(), f);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &n);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

absl::StatusOr<VerifyResult> VerifyWithAnchor(AuditLog& log, std::string_view expect_head) {
  absl::StatusOr<VerifyResult> result = log.Verify();
  if (!result.ok() || !result->ok || expect_head.empty()) return result;
  if (expect_head == kGenesisHash) return result;  // anchored before the first entry
  // The chain is intact, so finding the anchor anywhere in it proves nothing before it is lost.
  int64_t after = 0;
  while (true) {
    auto page = log.List(after, 1000);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const AuditEntry& e : *page) {
      if (e.hash == expect_head) return result;
    }
    after = page->back().seq;
  }
  result->ok = false;
  result->first_bad_seq = result->entries + 1;
  result->problem = absl::StrCat(
      "the expected head ", std::string(expect_head),
      " is not in the chain: entries were removed from its end and the head record rewritten "
      "(the chain now ends at seq ",
      result->entries, ", hash ", result->head_hash, ")");
  return result;
}

absl::StatusOr<std::unique_ptr<AuditLog>> OpenAuditLog(const core::AuditConfig& config,
                                                       const core::Clock* clock) {
  if (config.store == "postgres") return OpenPostgresAuditLog(config.postgres, clock);
  if (config.store == "sqlite") return OpenSqliteAuditLog(config.sqlite_path, clock);
  return absl::InvalidArgumentError(
      absl::StrCat("audit.store '", config.store, "' is not one of sqlite|postgres"));
}

namespace internal {

absl::Status ValidateRecord(const AuditRecord& r) {
  if (r.action.empty()) return absl::InvalidArgumentError("audit: an entry needs an action");
  const std::pair<const char*, const std::string*> fields[] = {{"action", &r.action},
                                                               {"subject", &r.subject},
                                                               {"before", &r.before},
                                                               {"after", &r.after},
                                                               {"actor", &r.who.actor},
                                                               {"reason", &r.who.reason},
                                                               {"request_id", &r.who.request_id}};
  for (const auto& [name, value] : fields) {
    if (value->find('\0') != std::string::npos || !core::IsValidUtf8(*value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("audit: field ", name, " must be UTF-8 text without NUL"));
    }
  }
  return absl::OkStatus();
}

void ChainVerifier::Fail(int64_t seq, std::string problem) {
  if (!result_.ok) return;  // the first break is the one reported
  result_.ok = false;
  result_.first_bad_seq = seq;
  result_.problem = std::move(problem);
}

void ChainVerifier::Add(const AuditEntry& e) {
  ++result_.entries;
  if (e.seq != expected_seq_) {
    if (e.seq > expected_seq_) {
      Fail(expected_seq_, e.seq == expected_seq_ + 1
                              ? absl::StrCat("entry ", expected_seq_, " is missing (deleted)")
                              : absl::StrCat("entries ", expected_seq_, "..", e.seq - 1,
                                             " are missing (deleted)"));
    } else {
      Fail(e.seq,
           absl::StrCat("entry ", e.seq, " is out of order (expected seq ", expected_seq_, ")"));
    }
  } else if (e.prev_hash != prev_hash_) {
    Fail(e.seq, absl::StrCat("entry ", e.seq,
                             "'s prev_hash does not match the hash of the entry before it "
                             "(that entry was edited and re-hashed, or this one was edited)"));
  } else if (AuditEntryHash(e.prev_hash, e.seq, e.ts_ms, e.record) != e.hash) {
    Fail(e.seq, absl::StrCat("entry ", e.seq, " was edited (its content does not match its hash)"));
  }
  expected_seq_ = e.seq + 1;
  prev_hash_ = e.hash;
  result_.head_hash = e.hash;
}

VerifyResult ChainVerifier::Finish(const std::optional<AuditHead>& head) {
  const int64_t last_seq = expected_seq_ - 1;
  if (result_.head_hash.empty()) result_.head_hash = std::string(kGenesisHash);
  if (!head.has_value()) {
    if (result_.entries > 0) {
      Fail(1, "the head record (audit_head) is missing although the log has entries");
    }
  } else if (head->seq > last_seq) {
    Fail(last_seq + 1, absl::StrCat("the tail was truncated: the head record names entry ",
                                    head->seq, " but the log ends at seq ", last_seq));
  } else if (head->seq < last_seq) {
    Fail(head->seq + 1, absl::StrCat("entries after seq ", head->seq,
                                     " were added behind the head record's back"));
  } else if (head->hash != prev_hash_) {
    Fail(last_seq,
         absl::StrCat("the last entry (seq ", last_seq, ") does not match the head record's hash"));
  }
  return std::move(result_);
}

}  // namespace internal
}  // namespace mangaassist::control
