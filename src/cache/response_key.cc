#include "cache/response_key.h"

#include <cstdint>

#include "cache/key_hasher.h"

namespace mangaassist::cache {
namespace {

uint64_t ModelDigest(std::string_view model, std::string_view version) {
  KeyHasher h;
  h.Field(model);
  h.Field(version);
  return h.Digest().low64;
}

}  // namespace

std::string ResponseCacheModelPrefix(std::string_view model, std::string_view model_version) {
  std::string out;
  AppendHex(ModelDigest(model, model_version), &out);
  out.push_back(':');
  return out;
}

std::string ResponseCacheKey(const ResponseKeyInputs& in) {
  // Sub-digests keep the main record small and fixed in shape.
  const XXH128_hash_t s = XXH3_128bits(in.system_prompt.data(), in.system_prompt.size());
  KeyHasher history;
  if (in.history != nullptr) {
    history.Int(in.history->size());
    for (const core::ChatTurn& t : *in.history) {
      history.Int(t.assistant ? 1 : 0);
      history.Field(t.content);
    }
  }
  KeyHasher h;
  h.Field("llmresp/v1");  // the key schema itself
  h.Field(in.tenant);
  h.Field(in.user_scope);
  h.Field(in.locale);
  h.Int(static_cast<uint64_t>(in.lang));
  h.Field(in.provider);
  h.Field(in.model);
  h.Field(in.model_version);
  h.Field(in.prompt_template_version);
  h.Field(in.classifier_version);
  h.Field(in.intent);
  const XXH128_hash_t hist = history.Digest();
  h.Int(s.low64);
  h.Int(s.high64);
  h.Int(hist.low64);
  h.Int(hist.high64);
  h.Field(in.message);
  h.Int(static_cast<uint64_t>(static_cast<int64_t>(in.max_tokens)));
  h.Float(in.temperature);
  h.Float(in.top_p);
  h.Int(in.stop != nullptr ? in.stop->size() : 0);
  if (in.stop != nullptr) {
    for (const std::string& st : *in.stop) h.Field(st);
  }
  const XXH128_hash_t d = h.Digest();
  std::string key = ResponseCacheModelPrefix(in.model, in.model_version);
  AppendHex(d.high64, &key);
  AppendHex(d.low64, &key);
  return key;
}

}  // namespace mangaassist::cache
