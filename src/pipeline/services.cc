#include "pipeline/services.h"

#include "absl/strings/str_cat.h"
#include "core/pricing.h"
#include "llm/extractive/extractive_responder.h"
#include "llm/models.h"
#include "llm/token_estimator.h"
#include "rag/catalog.h"
#include "spdlog/spdlog.h"

namespace mangaassist::pipeline {

Services::Services() = default;
Services::~Services() {
  models.reset();  // providers refer to the responder and prices
}
Services::Services(Services&&) noexcept = default;
Services& Services::operator=(Services&&) noexcept = default;

absl::StatusOr<std::unique_ptr<Services>> Services::Create(const core::Config* config,
                                                           core::Registry* metrics,
                                                           const core::Clock* clock) {
  auto s = std::make_unique<Services>();
  s->config = config;
  s->metrics = metrics;
  s->clock = clock;

  std::string catalog_path = config->DataPath(config->responder.catalog);
  rag::LoadReport report;
  auto catalog = rag::Catalog::LoadJsonl(catalog_path, &report);
  if (!catalog.ok()) return catalog.status();
  for (const auto& bad : report.bad_lines) spdlog::warn("catalog: {}", bad);
  if (report.bad_line_count > 0) {
    spdlog::warn("catalog {}: {} rows loaded, {} bad lines skipped", catalog_path,
                 report.loaded_rows, report.bad_line_count);
  }
  s->catalog = std::move(*catalog);

  auto responder = llm::ExtractiveResponder::Create(
      s->catalog.get(), config->DataPath(config->responder.templates));
  if (!responder.ok()) return responder.status();
  s->responder = std::move(*responder);
  auto prices = core::PriceTable::LoadFile(config->DataPath(config->pricing_file));
  if (!prices.ok()) return prices.status();
  s->prices = std::make_unique<core::PriceTable>(*std::move(prices));
  llm::ProviderDeps deps;
  deps.metrics = metrics;
  deps.clock = clock;
  deps.extractive = s->responder.get();
  auto models = llm::Models::Create(*config, s->prices.get(), deps);
  if (!models.ok()) return models.status();
  s->models = *std::move(models);
  s->token_estimator = std::make_unique<llm::TokenEstimator>();
  return s;
}

}  // namespace mangaassist::pipeline
