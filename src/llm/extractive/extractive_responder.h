// The offline "extractive" responder: answers a chat message with no network and no model, from
// the EN/JA templates and RE2 cue patterns of data/templates/extractive.yaml plus a catalog
// lookup. The routing order (service topics, then promotion and recommendation requests, then
// catalog titles/authors, then small talk, then a fallback) is documented in that file. Product
// cards, recommendations and promotions are read through the store lookup (rag/store_lookup.h:
// the product:, reco: and promo: caches) when one is given. Deterministic: the same message,
// language and store data always give the same answer. Immutable after Create(), so Answer() may
// be called from many threads at once. Owns neither the catalog nor the lookup.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/language.h"
#include "rag/catalog.h"
#include "rag/store_lookup.h"

namespace mangaassist::llm {

struct ExtractiveAnswer {
  std::string text;
  // e.g. "greeting", "product", "volume_in_range", "recommend_similar", "promotions", "fallback"
  std::string template_id;
  const rag::CatalogEntry* entry = nullptr;  // the catalog row the answer is about, if any
};

class ExtractiveResponder {
 public:
  // Loads and validates the template file (every template in both languages, known
  // placeholders only, every cue a valid RE2 pattern) and compiles the cues once.
  // Errors name the file: NotFound when it is missing, InvalidArgument when it is malformed.
  // REQUIRES: `catalog` and `lookup` outlive the responder. A null catalog answers without
  // catalog lookups; a null lookup renders product answers from the catalog row and leaves
  // recommendation and promotion requests to the other rules.
  static absl::StatusOr<std::unique_ptr<ExtractiveResponder>> Create(
      const rag::Catalog* catalog, const std::string& templates_path,
      const rag::StoreLookup* lookup = nullptr);

  ~ExtractiveResponder();
  ExtractiveResponder(const ExtractiveResponder&) = delete;
  ExtractiveResponder& operator=(const ExtractiveResponder&) = delete;

  // Answers in Japanese for kJa and kMixed, in English for kEn. Only the first
  // kMaxMessageBytes of `message` are read.
  ExtractiveAnswer Answer(std::string_view message, core::Lang lang) const;

  static constexpr size_t kMaxMessageBytes = 4096;

 private:
  struct Impl;
  explicit ExtractiveResponder(std::unique_ptr<const Impl> impl);

  std::unique_ptr<const Impl> impl_;
};

}  // namespace mangaassist::llm
