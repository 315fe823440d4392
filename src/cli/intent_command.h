// `mangaassist intent train|eval|classify` (US-02): train the in-process intent classifier from
// labelled JSONL with a precision gate on dev, measure a model on a labelled set, and classify
// lines. Every text goes through the same normalization and redaction as the `normalize` stage
// (privacy::Sanitize), so what is trained and measured is what the pipeline sees.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace mangaassist::cli {

struct IntentTrainOptions {
  std::vector<std::string> data;  // training JSONL files
  std::string out;                // model file to write
  std::string dev;                // gate set (default: <data_dir>/intent/dev.jsonl)
  uint64_t seed = 1;
  int epochs = 25;
  double learning_rate = 3.0;
  double threshold = 0;            // 0: chosen by cross-validation
  double target_precision = 0.95;  // what the cross-validated threshold aims at
  double floor = 0.92;             // minimum precision at the threshold on dev
  bool force = false;              // write even below the floor
  bool quiet = false;
};
// 0 written; 1 refused (below the floor) or I/O error; 2 usage or data error.
int RunIntentTrain(const IntentTrainOptions& options, std::ostream& out, std::ostream& err);

struct IntentEvalOptions {
  std::string data;
  std::string model;  // default: <data_dir>/intent/model.bin
  double threshold = 0;
  bool json = false;
};
int RunIntentEval(const IntentEvalOptions& options, std::ostream& out, std::ostream& err);

struct IntentClassifyOptions {
  std::string model;
  std::string input = "-";  // plain lines or JSONL with `text`
  double threshold = 0;
};
int RunIntentClassify(const IntentClassifyOptions& options, std::istream& in, std::ostream& out,
                      std::ostream& err);

}  // namespace mangaassist::cli
