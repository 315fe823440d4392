#include "cache/response_key.h"

#include <xxhash.h>

#include <cstdint>
#include <cstring>

namespace mangaassist::cache {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendHex(uint64_t v, std::string* out) {
  for (int shift = 60; shift >= 0; shift -= 4) out->push_back(kHex[(v >> shift) & 0xf]);
}

// Length-prefixed fields in one buffer, hashed at once with XXH3-128 (one pass is several
// times faster than streaming many small updates).
class Hasher {
 public:
  Hasher() { buf_.reserve(256); }
  void Field(std::string_view s) {
    Int(static_cast<uint64_t>(s.size()));
    buf_.append(s);
  }
  void Int(uint64_t v) { buf_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void Float(const std::optional<float>& f) {
    Int(f.has_value() ? 1 : 0);
    if (f.has_value()) {
      uint32_t bits;
      std::memcpy(&bits, &*f, sizeof bits);
      Int(bits);
    }
  }
  XXH128_hash_t Digest() const { return XXH3_128bits(buf_.data(), buf_.size()); }

 private:
  std::string buf_;
};

uint64_t ModelDigest(std::string_view model, std::string_view version) {
  Hasher h;
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
  Hasher history;
  if (in.history != nullptr) {
    history.Int(in.history->size());
    for (const core::ChatTurn& t : *in.history) {
      history.Int(t.assistant ? 1 : 0);
      history.Field(t.content);
    }
  }
  Hasher h;
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
