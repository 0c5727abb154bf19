// The intervention plan without a model: which rows are recomputed, how they are packed, and where
// each pack starts.
#include "core/intervention_plan.h"

#include <gtest/gtest.h>

#include "core/activation_layout.h"
#include "util/error.h"

namespace mechlens {
namespace {

// One site per position of `layer` over `n_pos` positions (a by-position sweep).
std::vector<InterventionSite> position_sites(int64_t layer, int64_t n_pos) {
  std::vector<InterventionSite> sites;
  for (int64_t pos = 0; pos < n_pos; ++pos) sites.push_back({pos, layer, pos, -1, -1, 0});
  return sites;
}

PlanShape shape_of(int64_t batch, int64_t n_pos, int64_t answer, int64_t max_batch = 512) {
  PlanShape shape;
  shape.batch = batch;
  shape.n_pos = n_pos;
  shape.answer_pos.assign(size_t(batch), answer);
  shape.max_batch = max_batch;
  return shape;
}

const SiteRange kAtPosition = [](const InterventionSite& site, int64_t) {
  return std::pair<int64_t, int64_t>{site.pos, site.pos + 1};
};

TEST(InterventionPlanTest, FirstPositionIsTheEarliestTouchedInAnyPrompt) {
  std::vector<InterventionSite> sites{{0, 0, -1, -1, 0, 0}};
  PlanShape shape = shape_of(3, 10, 9);
  const SiteRange spans = [](const InterventionSite&, int64_t b) {
    return b == 1 ? std::pair<int64_t, int64_t>{2, 4} : std::pair<int64_t, int64_t>{5, 5};  // empty elsewhere
  };
  set_first_positions(sites, shape, spans);
  EXPECT_EQ(sites[0].first, 2);
}

TEST(InterventionPlanTest, EveryChangeableRowIsComputedExactlyOnce) {
  PlanShape shape = shape_of(4, 8, 7, /*max_batch=*/6);
  std::vector<InterventionSite> sites = position_sites(1, 8);
  set_first_positions(sites, shape, kAtPosition);
  const std::vector<Pack> packs = plan_layer(sites, 1, shape, kAtPosition, nullptr);
  std::vector<int> seen(8 * 4, 0);
  for (const Pack& pack : packs) {
    EXPECT_EQ(pack.layer, 1);
    EXPECT_LE(int64_t(pack.rows.size()), 6);
    for (const PackRow& row : pack.rows) {
      const InterventionSite& site = pack.sites[size_t(row.run)];
      EXPECT_EQ(row.begin, site.pos);
      EXPECT_GE(row.begin, pack.first);  // a pack starts no later than any of its rows
      ++seen[size_t(site.flat * 4 + row.prompt)];
    }
  }
  for (int count : seen) EXPECT_EQ(count, 1);
  // Latest-first: the first pack holds the latest position.
  EXPECT_EQ(packs.front().sites.front().pos, 7);
}

TEST(InterventionPlanTest, RowsAfterTheAnswerAndUnchangedRowsAreSkipped) {
  PlanShape shape = shape_of(2, 6, 3);
  shape.answer_pos = {3, 5};
  std::vector<InterventionSite> sites = position_sites(0, 6);
  set_first_positions(sites, shape, kAtPosition);
  // Prompt 0 is unchanged at position 1 (the source equals the target there).
  const SiteChanges changes = [](const InterventionSite& site, int64_t b, int64_t, int64_t) {
    return !(b == 0 && site.pos == 1);
  };
  int64_t rows = 0;
  for (const Pack& pack : plan_layer(sites, 0, shape, kAtPosition, changes)) {
    for (const PackRow& row : pack.rows) {
      const int64_t pos = pack.sites[size_t(row.run)].pos;
      EXPECT_LE(pos, shape.answer_pos[size_t(row.prompt)]) << "a patch after the answer cannot change it";
      EXPECT_FALSE(row.prompt == 0 && pos == 1);
      ++rows;
    }
  }
  EXPECT_EQ(rows, 4 - 1 + 6);  // prompt 0: positions 0..3 less the unchanged one; prompt 1: 0..5
}

TEST(InterventionPlanTest, OtherLayersAreNotPlannedAndFromStartStartsAtZero) {
  PlanShape shape = shape_of(2, 5, 4);
  std::vector<InterventionSite> sites = position_sites(0, 5);
  for (InterventionSite& site : position_sites(2, 5)) sites.push_back(site);
  set_first_positions(sites, shape, kAtPosition);
  EXPECT_TRUE(plan_layer(sites, 1, shape, kAtPosition, nullptr).empty());
  shape.from_start = true;
  for (const Pack& pack : plan_layer(sites, 2, shape, kAtPosition, nullptr)) EXPECT_EQ(pack.first, 0);
}

TEST(InterventionPlanTest, WorkCountsRowsTimesRecomputedPositions) {
  PlanShape shape = shape_of(1, 4, 3);
  std::vector<InterventionSite> sites = position_sites(0, 4);
  set_first_positions(sites, shape, kAtPosition);
  const std::vector<Pack> packs = plan_layer(sites, 0, shape, kAtPosition, nullptr);
  // Small packs merge: one pack from position 0, 4 rows of 4 positions.
  ASSERT_EQ(packs.size(), 1u);
  EXPECT_EQ(plan_work(packs, 4), 16);
}

TEST(ActivationLayoutTest, PositionAndHeadAxesFromHookDims) {
  const ActivationLayout z = ActivationLayout::from_dims({"batch", "pos", "head", "d_head"});
  EXPECT_EQ(z.position_dim, 1);
  EXPECT_EQ(z.head_dim, 2);
  EXPECT_EQ(z.mask_shape(5, 3, 4), (std::vector<int64_t>{5, 3, 4, 1}));
  const ActivationLayout pattern = ActivationLayout::from_dims({"batch", "head", "dest", "src"});
  EXPECT_EQ(pattern.position_dim, 2);
  EXPECT_EQ(pattern.head_dim, 1);
  EXPECT_EQ(pattern.mask_shape(5, 3, 4), (std::vector<int64_t>{5, 4, 3, 1}));
  const ActivationLayout resid = ActivationLayout::from_dims({"batch", "pos", "d_model"});
  EXPECT_FALSE(resid.has_heads());
  EXPECT_EQ(resid.mask_shape(5, 3, 4), (std::vector<int64_t>{5, 3, 1}));
  EXPECT_EQ(ActivationLayout::from_dims({"batch", "pos", "kv_head", "d_head"}).head_dim, 2);
  EXPECT_THROW(ActivationLayout::from_dims({"batch", "d_model"}), HookError);
}

}  // namespace
}  // namespace mechlens
