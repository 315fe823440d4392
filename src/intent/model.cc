#include "intent/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "xxhash.h"

namespace mangaassist::intent {
namespace {

constexpr char kMagic[8] = {'M', 'A', 'I', 'N', 'T', 'E', 'N', 'T'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kMaxLabels = 64;

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(b, 4);
}
void PutF32(std::string* out, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  PutU32(out, v);
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool U32(uint32_t* v) {
    if (b_.size() - pos_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      *v |= static_cast<uint32_t>(static_cast<unsigned char>(b_[pos_ + i])) << (8 * i);
    }
    pos_ += 4;
    return true;
  }
  bool F32(float* f) {
    uint32_t v;
    if (!U32(&v)) return false;
    std::memcpy(f, &v, 4);
    return std::isfinite(*f);
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (b_.size() - pos_ < n) return false;
    *out = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

nlohmann::json MetaJson(const std::vector<std::string>& labels, const FeatureOptions& f,
                        const ModelMeta& m) {
  nlohmann::json j;
  j["labels"] = labels;
  j["features"] = {{"bucket_bits", f.bucket_bits},
                   {"max_codepoints", f.max_codepoints},
                   {"max_features", f.max_features},
                   {"word_char_max", f.word_char_max},
                   {"ja_max_n", f.ja_max_n},
                   {"word_bigrams", f.word_bigrams},
                   {"ja_script_words", f.ja_script_words}};
  j["temperature"] = m.temperature;
  j["threshold"] = m.threshold;
  j["seed"] = m.seed;
  j["epochs"] = m.epochs;
  j["train_data_hash"] = m.train_data_hash;
  j["train_examples"] = m.train_examples;
  j["cv_accuracy"] = m.cv_accuracy;
  j["train_label_share"] = m.train_label_share;
  j["train_lang_share"] = m.train_lang_share;
  j["dev"] = {{"class_precision", m.dev_class_precision},
              {"precision_at_threshold", m.dev_precision_at_threshold},
              {"coverage", m.dev_coverage},
              {"accuracy", m.dev_accuracy}};
  return j;
}

}  // namespace

std::string ModelVersionOf(std::string_view bytes) {
  return absl::StrFormat("i1-%012x", XXH3_64bits(bytes.data(), bytes.size()) >> 16);
}

Model::Model(std::vector<std::string> labels, FeatureOptions features)
    : labels_(std::move(labels)),
      features_(features),
      weights_((size_t{1} << features.bucket_bits) * labels_.size(), 0.0f),
      bias_(labels_.size(), 0.0f) {}

int Model::LabelIndex(std::string_view label) const {
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] == label) return static_cast<int>(i);
  }
  return -1;
}

void Model::Logits(const std::vector<uint32_t>& features, float* logits) const {
  const size_t L = labels_.size();
  std::fill(logits, logits + L, 0.0f);
  for (uint32_t f : features) {
    const float* row = &weights_[static_cast<size_t>(f) * L];
    for (size_t k = 0; k < L; ++k) logits[k] += row[k];
  }
  const float scale =
      features.empty() ? 0.0f : 1.0f / std::sqrt(static_cast<float>(features.size()));
  for (size_t k = 0; k < L; ++k) logits[k] = logits[k] * scale + bias_[k];
}

void Model::Probabilities(float* logits) const {
  const size_t L = labels_.size();
  const float inv_t = static_cast<float>(1.0 / meta_.temperature);
  float mx = logits[0] * inv_t;
  for (size_t k = 1; k < L; ++k) mx = std::max(mx, logits[k] * inv_t);
  float sum = 0;
  for (size_t k = 0; k < L; ++k) {
    logits[k] = std::exp(logits[k] * inv_t - mx);
    sum += logits[k];
  }
  for (size_t k = 0; k < L; ++k) logits[k] /= sum;
}

Scores Model::Score(std::string_view text) const {
  thread_local std::vector<uint32_t> features;
  float p[kMaxLabels];
  FeatureStats stats = ExtractFeatures(text, features_, &features);
  Logits(features, p);
  Probabilities(p);
  Scores s;
  s.features = stats.features;
  s.best = 0;
  for (size_t k = 1; k < labels_.size(); ++k) {
    if (p[k] > p[s.best]) s.best = static_cast<int>(k);
  }
  s.confidence = p[s.best];
  return s;
}

std::string Model::Serialize() {
  std::string out(kMagic, sizeof kMagic);
  PutU32(&out, kFormatVersion);
  const std::string meta = MetaJson(labels_, features_, meta_).dump();
  PutU32(&out, static_cast<uint32_t>(meta.size()));
  out += meta;
  const size_t L = labels_.size();
  const size_t rows = weights_.size() / L;
  uint32_t nonzero = 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = &weights_[r * L];
    if (std::any_of(row, row + L, [](float w) { return w != 0.0f; })) ++nonzero;
  }
  PutU32(&out, nonzero);
  out.reserve(out.size() + nonzero * (4 + 4 * L) + 4 * L);
  for (size_t r = 0; r < rows; ++r) {
    const float* row = &weights_[r * L];
    if (!std::any_of(row, row + L, [](float w) { return w != 0.0f; })) continue;
    PutU32(&out, static_cast<uint32_t>(r));
    for (size_t k = 0; k < L; ++k) PutF32(&out, row[k]);
  }
  for (float b : bias_) PutF32(&out, b);
  version_ = ModelVersionOf(out);
  return out;
}

absl::Status Model::Save(const std::string& path) {
  const std::string bytes = Serialize();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Model>> Model::Parse(std::string_view bytes) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("intent model: ", why));
  };
  Reader r(bytes);
  std::string_view magic, meta_text;
  uint32_t format = 0, meta_len = 0;
  if (!r.Bytes(sizeof kMagic, &magic) || magic != std::string_view(kMagic, sizeof kMagic)) {
    return bad("not a MangaAssist intent model (bad magic)");
  }
  if (!r.U32(&format) || format != kFormatVersion) {
    return bad(absl::StrCat("unsupported format version ", format));
  }
  if (!r.U32(&meta_len) || !r.Bytes(meta_len, &meta_text)) return bad("truncated metadata");
  nlohmann::json j = nlohmann::json::parse(meta_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("metadata is not a JSON object");
  std::vector<std::string> labels;
  FeatureOptions f;
  ModelMeta m;
  try {
    labels = j.at("labels").get<std::vector<std::string>>();
    const auto& fj = j.at("features");
    f.bucket_bits = fj.at("bucket_bits").get<int>();
    f.max_codepoints = fj.at("max_codepoints").get<size_t>();
    f.max_features = fj.at("max_features").get<size_t>();
    f.word_char_max = fj.at("word_char_max").get<int>();
    f.ja_max_n = fj.at("ja_max_n").get<int>();
    f.word_bigrams = fj.at("word_bigrams").get<bool>();
    f.ja_script_words = fj.at("ja_script_words").get<bool>();
    m.temperature = j.at("temperature").get<double>();
    m.threshold = j.at("threshold").get<double>();
    m.seed = j.at("seed").get<uint64_t>();
    m.epochs = j.at("epochs").get<int>();
    m.train_data_hash = j.at("train_data_hash").get<std::string>();
    m.train_examples = j.at("train_examples").get<int64_t>();
    m.cv_accuracy = j.at("cv_accuracy").get<double>();
    m.train_label_share = j.at("train_label_share").get<std::map<std::string, double>>();
    m.train_lang_share = j.at("train_lang_share").get<std::map<std::string, double>>();
    const auto& d = j.at("dev");
    m.dev_class_precision = d.at("class_precision").get<std::map<std::string, double>>();
    m.dev_precision_at_threshold = d.at("precision_at_threshold").get<double>();
    m.dev_coverage = d.at("coverage").get<double>();
    m.dev_accuracy = d.at("accuracy").get<double>();
  } catch (const nlohmann::json::exception& e) {
    return bad(absl::StrCat("metadata: ", e.what()));
  }
  if (labels.size() < 2 || labels.size() > kMaxLabels) return bad("needs 2 to 64 labels");
  if (f.bucket_bits < 8 || f.bucket_bits > 24) return bad("bucket_bits out of [8, 24]");
  if (f.max_codepoints < 1 || f.max_codepoints > (1u << 20) || f.max_features < 1 ||
      f.max_features > 65536) {
    return bad("feature caps out of range");
  }
  if (!(m.temperature > 0.01 && m.temperature < 100)) return bad("temperature out of range");
  auto model = std::make_unique<Model>(std::move(labels), f);
  model->meta_ = std::move(m);
  const size_t L = model->labels_.size();
  const uint32_t buckets = uint32_t{1} << f.bucket_bits;
  uint32_t rows = 0;
  if (!r.U32(&rows) || rows > buckets) return bad("bad row count");
  for (uint32_t i = 0; i < rows; ++i) {
    uint32_t bucket;
    if (!r.U32(&bucket) || bucket >= buckets) return bad("bad bucket");
    float* row = model->Row(bucket);
    for (size_t k = 0; k < L; ++k) {
      if (!r.F32(&row[k])) return bad("truncated or non-finite weights");
    }
  }
  for (size_t k = 0; k < L; ++k) {
    if (!r.F32(&model->bias_[k])) return bad("truncated or non-finite biases");
  }
  if (!r.done()) return bad("trailing bytes");
  model->version_ = ModelVersionOf(bytes);
  return model;
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot open intent model ", path,
                     " (build it: cmake --build --preset release --target intent_model, or "
                     "`mangaassist intent train`)"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto m = Parse(ss.str());
  if (!m.ok())
    return absl::Status(m.status().code(), absl::StrCat(path, ": ", m.status().message()));
  return m;
}

}  // namespace mangaassist::intent
