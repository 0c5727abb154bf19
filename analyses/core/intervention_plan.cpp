#include "core/intervention_plan.h"

#include <algorithm>

namespace mechlens {

void set_first_positions(std::vector<InterventionSite>& sites, const PlanShape& shape, const SiteRange& range) {
  for (InterventionSite& site : sites) {
    site.first = shape.n_pos;
    for (int64_t b = 0; b < shape.batch; ++b) {
      const auto [begin, end] = range(site, b);
      if (begin < end) site.first = std::min(site.first, begin);
    }
  }
}

std::vector<Pack> plan_layer(const std::vector<InterventionSite>& all_sites, int64_t layer, const PlanShape& shape,
                             const SiteRange& range, const SiteChanges& changes) {
  constexpr double kWasteAllowed = 1.25;
  constexpr int64_t kSmallPackTokens = 1024;  // measured best of 1024..16384 on the shipped logic model
  std::vector<InterventionSite> sites;
  for (const InterventionSite& site : all_sites) {
    if (site.layer == layer) sites.push_back(site);
  }
  std::stable_sort(sites.begin(), sites.end(),
                   [](const InterventionSite& a, const InterventionSite& b) { return a.first > b.first; });
  std::vector<Pack> packs;
  Pack pack{layer, {}, {}, 0};
  int64_t useful = 0;
  for (const InterventionSite& site : sites) {
    std::vector<PackRow> new_rows;
    for (int64_t b = 0; b < shape.batch; ++b) {
      const auto [begin, end] = range(site, b);
      if (begin >= end || (shape.causal && shape.answer_pos[size_t(b)] < begin)) continue;
      if (changes && !changes(site, b, begin, end)) continue;
      new_rows.push_back({b, int64_t(pack.sites.size()), begin, end});
    }
    if (new_rows.empty()) continue;
    const int64_t span = shape.n_pos - site.first, n_new = int64_t(new_rows.size());
    const int64_t rows = int64_t(pack.rows.size()) + n_new;
    const int64_t work = rows * span;
    const bool fits = rows <= std::max<int64_t>(shape.max_batch, n_new) &&
                      (work <= kWasteAllowed * double(useful + n_new * span) || work <= kSmallPackTokens);
    if (!pack.sites.empty() && !fits) {
      packs.push_back(std::move(pack));
      pack = Pack{layer, {}, {}, 0};
      useful = 0;
      for (PackRow& row : new_rows) row.run = 0;
    }
    pack.rows.insert(pack.rows.end(), new_rows.begin(), new_rows.end());
    pack.sites.push_back(site);
    useful += n_new * span;
  }
  if (!pack.sites.empty()) packs.push_back(std::move(pack));
  for (Pack& made : packs) {
    made.first = shape.n_pos;
    for (const PackRow& row : made.rows) made.first = std::min(made.first, row.begin);
    if (shape.from_start) made.first = 0;
  }
  return packs;
}

int64_t plan_work(const std::vector<Pack>& packs, int64_t n_pos) {
  int64_t work = 0;
  for (const Pack& pack : packs) work += int64_t(pack.rows.size()) * (n_pos - pack.first);
  return work;
}

}  // namespace mechlens
