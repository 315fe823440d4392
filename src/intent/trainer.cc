#include "intent/trainer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "xxhash.h"

namespace mangaassist::intent {
namespace {

// splitmix64: a fully specified generator, so the shuffle is the same on every platform.
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }  // bias is irrelevant here

 private:
  uint64_t s_;
};

void Shuffle(std::vector<size_t>* v, SplitMix* rng) {
  for (size_t i = v->size(); i > 1; --i) std::swap((*v)[i - 1], (*v)[rng->Below(i)]);
}

struct Encoded {
  std::vector<std::vector<uint32_t>> features;
  std::vector<int> labels;
};

// SGD over the examples listed in `rows`.
void Fit(const Encoded& data, const std::vector<size_t>& rows, const TrainOptions& o, uint64_t seed,
         Model* model, std::string_view phase) {
  const size_t L = model->labels().size();
  SplitMix rng(seed);
  std::vector<size_t> order = rows;
  std::vector<float> p(L);
  const double total = static_cast<double>(o.epochs) * static_cast<double>(rows.size());
  double step = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    Shuffle(&order, &rng);
    for (size_t i : order) {
      const float lr = static_cast<float>(o.learning_rate * std::max(0.0, 1.0 - step / total));
      step += 1;
      const auto& f = data.features[i];
      model->Logits(f, p.data());
      float mx = *std::max_element(p.begin(), p.end());
      float sum = 0;
      for (float& v : p) sum += (v = std::exp(v - mx));
      for (float& v : p) v /= sum;
      p[static_cast<size_t>(data.labels[i])] -= 1.0f;  // gradient of the cross-entropy
      const float scale = f.empty() ? 0.0f : lr / std::sqrt(static_cast<float>(f.size()));
      for (uint32_t b : f) {
        float* row = model->Row(b);
        for (size_t k = 0; k < L; ++k) row[k] -= scale * p[k];
      }
      float* bias = model->Bias();
      for (size_t k = 0; k < L; ++k) bias[k] -= lr * 0.1f * p[k];
    }
    if (o.progress) o.progress(phase, epoch + 1, o.epochs);
  }
}

double Nll(const std::vector<float>& logits, const std::vector<int>& labels, size_t L, double t) {
  double nll = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* z = &logits[i * L];
    double mx = z[0] / t;
    for (size_t k = 1; k < L; ++k) mx = std::max(mx, z[k] / t);
    double sum = 0;
    for (size_t k = 0; k < L; ++k) sum += std::exp(z[k] / t - mx);
    nll -= z[static_cast<size_t>(labels[i])] / t - mx - std::log(sum);
  }
  return nll;
}

// `ensemble` SGD runs over `rows`, their weights averaged into `model` (which must be zero).
void FitAveraged(const Encoded& data, const std::vector<size_t>& rows, const TrainOptions& o,
                 uint64_t seed, Model* model, std::string_view phase) {
  const int runs = std::max(1, o.ensemble);
  if (runs == 1) return Fit(data, rows, o, seed, model, phase);
  const size_t L = model->labels().size();
  const size_t buckets = size_t{1} << model->feature_options().bucket_bits;
  for (int r = 0; r < runs; ++r) {
    Model run(model->labels(), model->feature_options());
    Fit(data, rows, o, seed + 1000003ull * static_cast<uint64_t>(r), &run, phase);
    const float w = 1.0f / static_cast<float>(runs);
    for (size_t b = 0; b < buckets; ++b) {
      const float* src = run.Row(static_cast<uint32_t>(b));
      float* dst = model->Row(static_cast<uint32_t>(b));
      for (size_t k = 0; k < L; ++k) dst[k] += w * src[k];
    }
    for (size_t k = 0; k < L; ++k) model->Bias()[k] += w * run.Bias()[k];
  }
}

}  // namespace

double FitTemperature(const std::vector<float>& logits, const std::vector<int>& labels,
                      size_t classes) {
  double best_t = 1.0, best = Nll(logits, labels, classes, 1.0);
  // Log-spaced grid over [0.05, 20], then a finer grid around the best point.
  for (int i = 0; i <= 200; ++i) {
    const double t = 0.05 * std::pow(400.0, i / 200.0);
    const double v = Nll(logits, labels, classes, t);
    if (v < best) best = v, best_t = t;
  }
  const double lo = best_t / std::pow(400.0, 1 / 200.0), hi = best_t * std::pow(400.0, 1 / 200.0);
  for (int i = 0; i <= 100; ++i) {
    const double t = lo + (hi - lo) * i / 100.0;
    const double v = Nll(logits, labels, classes, t);
    if (v < best) best = v, best_t = t;
  }
  return best_t;
}

absl::StatusOr<std::unique_ptr<Model>> Train(const std::vector<Example>& examples,
                                             const TrainOptions& o) {
  std::set<std::string> label_set;
  for (const Example& e : examples) label_set.insert(e.intent);
  if (label_set.size() < 2 || label_set.size() > 64) {
    return absl::InvalidArgumentError("training needs between 2 and 64 distinct intents");
  }
  if (o.folds < 2 || examples.size() < static_cast<size_t>(o.folds) * 2 || o.epochs < 1) {
    return absl::InvalidArgumentError("training needs folds ≥ 2, epochs ≥ 1 and enough examples");
  }
  const std::vector<std::string> labels(label_set.begin(), label_set.end());
  const size_t L = labels.size();
  Encoded data;
  XXH3_state_t* hash = XXH3_createState();
  XXH3_64bits_reset(hash);
  std::map<std::string, double> label_share, lang_share;
  for (const Example& e : examples) {
    std::vector<uint32_t> f;
    ExtractFeatures(e.text, o.features, &f);
    data.features.push_back(std::move(f));
    data.labels.push_back(static_cast<int>(
        std::lower_bound(labels.begin(), labels.end(), e.intent) - labels.begin()));
    XXH3_64bits_update(hash, e.text.data(), e.text.size() + 0);
    XXH3_64bits_update(hash, "\t", 1);
    XXH3_64bits_update(hash, e.intent.data(), e.intent.size());
    XXH3_64bits_update(hash, "\n", 1);
    label_share[e.intent] += 1;
    lang_share[std::string(core::LangName(e.has_lang ? e.lang : core::DetectLanguage(e.text)))] +=
        1;
  }
  const uint64_t data_hash = XXH3_64bits_digest(hash);
  XXH3_freeState(hash);
  const double n = static_cast<double>(examples.size());
  for (auto& [k, v] : label_share) v /= n;
  for (auto& [k, v] : lang_share) v /= n;

  // Cross-validation: held-out logits of every example, for the temperature and the threshold.
  SplitMix fold_rng(o.seed ^ 0xF01DF01DF01DF01Dull);
  std::vector<size_t> perm(examples.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  Shuffle(&perm, &fold_rng);
  std::vector<int> fold(examples.size());
  for (size_t i = 0; i < perm.size(); ++i)
    fold[perm[i]] = static_cast<int>(i % static_cast<size_t>(o.folds));
  std::vector<float> held_out(examples.size() * L);
  for (int k = 0; k < o.folds; ++k) {
    std::vector<size_t> train_rows;
    for (size_t i = 0; i < examples.size(); ++i) {
      if (fold[i] != k) train_rows.push_back(i);
    }
    Model m(labels, o.features);
    FitAveraged(data, train_rows, o, o.seed + static_cast<uint64_t>(k) + 1, &m,
                absl::StrCat("cv ", k + 1, "/", o.folds));
    for (size_t i = 0; i < examples.size(); ++i) {
      if (fold[i] == k) m.Logits(data.features[i], &held_out[i * L]);
    }
  }
  const double temperature = FitTemperature(held_out, data.labels, L);

  // The lowest threshold whose CV precision reaches the target (on the calibrated scores).
  std::vector<std::pair<float, bool>> scored;  // confidence, correct
  for (size_t i = 0; i < examples.size(); ++i) {
    std::vector<float> z(held_out.begin() + static_cast<long>(i * L),
                         held_out.begin() + static_cast<long>((i + 1) * L));
    const int best = static_cast<int>(std::max_element(z.begin(), z.end()) - z.begin());
    double mx = z[static_cast<size_t>(best)] / temperature, sum = 0;
    for (float v : z) sum += std::exp(v / temperature - mx);
    scored.emplace_back(static_cast<float>(1.0 / sum), best == data.labels[i]);
  }
  int64_t cv_correct = 0;
  for (const auto& [c, ok] : scored) cv_correct += ok;
  double threshold = 0.95;
  for (int t100 = 5; t100 <= 95; ++t100) {
    const double t = t100 / 100.0;
    int64_t covered = 0, correct = 0;
    for (const auto& [c, ok] : scored) {
      if (c >= t) ++covered, correct += ok;
    }
    if (covered > 0 &&
        static_cast<double>(correct) / static_cast<double>(covered) >= o.target_precision) {
      threshold = t;
      break;
    }
  }

  auto model = std::make_unique<Model>(labels, o.features);
  std::vector<size_t> all(examples.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  FitAveraged(data, all, o, o.seed, model.get(), "final");
  ModelMeta& meta = model->mutable_meta();
  meta.temperature = temperature;
  meta.threshold = threshold;
  meta.cv_accuracy = static_cast<double>(cv_correct) / static_cast<double>(scored.size());
  meta.seed = o.seed;
  meta.epochs = o.epochs;
  meta.train_data_hash = absl::StrFormat("%016x", data_hash);
  meta.train_examples = static_cast<int64_t>(examples.size());
  meta.train_label_share = std::move(label_share);
  meta.train_lang_share = std::move(lang_share);
  return model;
}

}  // namespace mangaassist::intent
