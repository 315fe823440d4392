#include "cache/keyspace.h"

namespace mangaassist::cache {
namespace {

constexpr std::array<KeyspaceInfo, kKeyspaceCount> kInfo = {{
    {Keyspace::kLlmResp, "llmresp", "llmresp:", 1, true},
    {Keyspace::kIntentSess, "intent_sess", "intent:sess:", 2, false},
    {Keyspace::kProduct, "product", "product:", 3, false},
    {Keyspace::kReco, "reco", "reco:", 3, false},
    {Keyspace::kPromo, "promo", "promo:", 3, false},
    {Keyspace::kEmb, "emb", "emb:", 4, false},
    {Keyspace::kRate, "rate", "rate:", 0, true},
    {Keyspace::kCost, "cost", "cost:", 0, true},
}};

constexpr std::array<Keyspace, kKeyspaceCount> kAll = {
    Keyspace::kLlmResp, Keyspace::kIntentSess, Keyspace::kProduct, Keyspace::kReco,
    Keyspace::kPromo,   Keyspace::kEmb,        Keyspace::kRate,    Keyspace::kCost};

}  // namespace

const KeyspaceInfo& Info(Keyspace ks) { return kInfo[static_cast<size_t>(ks)]; }

std::optional<Keyspace> ParseKeyspace(std::string_view name) {
  for (const KeyspaceInfo& i : kInfo) {
    if (i.name == name) return i.keyspace;
  }
  return std::nullopt;
}

const std::array<Keyspace, kKeyspaceCount>& AllKeyspaces() { return kAll; }

}  // namespace mangaassist::cache
