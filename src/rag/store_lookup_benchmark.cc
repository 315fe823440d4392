// The read-through lookups on a hit, over the in-process cache and the shipped catalog: the
// product card a product answer renders, a recommendation list, the running promotions; and the
// card's decoding alone.
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "cache/memory_cache.h"
#include "rag/store_lookup.h"

namespace mangaassist::rag {
namespace {

struct World {
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<PromotionSet> promotions;
  std::unique_ptr<cache::Cache> cache;
  std::unique_ptr<CatalogOrigin> catalog_origin;
  std::unique_ptr<PromotionOrigin> promotion_origin;
  std::unique_ptr<StoreLookup> lookup;
};

const World& Shipped() {
  static const World* const w = [] {
    auto* w = new World;
    const std::string data = MANGAASSIST_DATA_DIR_FOR_TESTS;
    w->catalog = *Catalog::LoadJsonl(data + "/catalog/catalog.jsonl", nullptr);
    w->promotions = *PromotionSet::LoadFile(data + "/promotions/promotions.yaml");
    w->cache = std::make_unique<cache::MemoryCache>(cache::MemoryCacheOptions{});
    w->catalog_origin = NewCatalogOrigin(w->catalog.get());
    w->promotion_origin = NewPromotionOrigin(w->promotions.get());
    StoreLookupOptions o;
    o.cache = w->cache.get();
    o.catalog = w->catalog_origin.get();
    o.promotions = w->promotion_origin.get();
    w->lookup = std::make_unique<StoreLookup>(o);
    return w;
  }();
  return *w;
}

void BM_ProductHit(benchmark::State& state) {
  const StoreLookup& lookup = *Shipped().lookup;
  (void)lookup.Product("ma:0001");
  for (auto _ : state) benchmark::DoNotOptimize(lookup.Product("ma:0001"));
}
BENCHMARK(BM_ProductHit);

void BM_DecodeProductCard(benchmark::State& state) {
  const std::string card = EncodeProductCard(*Shipped().catalog_origin->Product("ma:0001"));
  for (auto _ : state) benchmark::DoNotOptimize(DecodeProductCard(card));
}
BENCHMARK(BM_DecodeProductCard);

void BM_RecommendHit(benchmark::State& state) {
  const StoreLookup& lookup = *Shipped().lookup;
  const RecoQuery q{RecoKind::kSimilar, "ma:0001", 5};
  (void)lookup.Recommend(q);
  for (auto _ : state) benchmark::DoNotOptimize(lookup.Recommend(q));
}
BENCHMARK(BM_RecommendHit);

// What a miss costs the origin: scoring the whole catalog against one seed.
void BM_RecommendCompute(benchmark::State& state) {
  const Catalog& catalog = *Shipped().catalog;
  const RecoQuery q{RecoKind::kSimilar, "ma:0001", 5};
  for (auto _ : state) benchmark::DoNotOptimize(Recommend(catalog, q));
}
BENCHMARK(BM_RecommendCompute);

void BM_ActivePromotionsHit(benchmark::State& state) {
  const StoreLookup& lookup = *Shipped().lookup;
  (void)lookup.ActivePromotions();
  for (auto _ : state) benchmark::DoNotOptimize(lookup.ActivePromotions());
}
BENCHMARK(BM_ActivePromotionsHit);

}  // namespace
}  // namespace mangaassist::rag

BENCHMARK_MAIN();
