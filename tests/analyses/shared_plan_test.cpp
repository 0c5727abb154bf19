// A sweep shared through engine/shared_plan.h: shards saved beside the output equal the one-pass
// result bit for bit, a resumed run takes finished shards as they were saved (and recomputes only
// the rest), and shards of another run or damaged ones are refused by name.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/work_shards.h"
#include "patching/patching.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {
namespace fs = std::filesystem;

struct SharedSweep : ::testing::Test {
  static HookedTransformer model(uint64_t seed) {
    ModelConfig config = testing::tiny_config();
    config.n_layers = 3;
    config.seed = seed;
    return HookedTransformer(config);
  }
  static PatchingInputs inputs(const ModelConfig& config) {
    PatchingInputs in;
    in.clean = testing::random_tokens(4, 8, config.d_vocab, 21);
    in.corrupted = testing::random_tokens(4, 8, config.d_vocab, 22);
    in.answer_pos = torch::full({4}, 7, torch::kLong);
    in.correct = testing::random_tokens(1, 4, config.d_vocab, 23).squeeze(0);
    in.wrong = (in.correct + 1) % config.d_vocab;
    return in;
  }
  PatchOptions options(bool resume, const std::string& key = "run-a") const {
    PatchOptions o;
    o.max_batch = 5;  // many packs, so several shards
    o.sharing.shard_dir = dir.string();
    o.sharing.run_key = key;
    o.sharing.resume = resume;
    return o;
  }
  std::vector<fs::path> shard_files() const {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".shard") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  testing::TestDir scratch;
  fs::path dir = scratch.path() / "out.h5.shards";
};

TEST_F(SharedSweep, SavedShardsEqualTheUnsharedSweepBitForBit) {
  HookedTransformer m = model(7);
  PatchingSession session(m, inputs(m->config()), MetricKind::kLogitDiff);
  const Component component = parse_components("head_z", m->config()).front();
  PatchOptions plain;
  plain.max_batch = 5;
  const PatchResult alone = session.run(component, plain);
  const PatchResult saved = session.run(component, options(false));
  EXPECT_TRUE(torch::equal(alone.per_prompt, saved.per_prompt));
  EXPECT_EQ(alone.rows_computed, saved.rows_computed);
  EXPECT_EQ(shard_files().size(), 4u);  // 4 shards for the one rank
}

TEST_F(SharedSweep, ResumeTakesFinishedShardsAsSavedAndRecomputesTheRest) {
  const Component component = parse_components("resid_pre", testing::tiny_config()).front();
  HookedTransformer first = model(7);
  PatchingSession first_session(first, inputs(first->config()), MetricKind::kLogitDiff);
  const PatchResult before = first_session.run(component, options(false));
  std::vector<fs::path> files = shard_files();
  ASSERT_EQ(files.size(), 4u);
  for (size_t i = 1; i < files.size(); ++i) fs::remove(files[i]);  // "killed" after shard 0

  // Another model under the same run key: shard 0's rows keep the first model's values, the others
  // are computed anew; so resuming really reads the saved shard and recomputes only the rest.
  HookedTransformer second = model(8);
  PatchingSession second_session(second, inputs(second->config()), MetricKind::kLogitDiff);
  PatchOptions plain;
  plain.max_batch = 5;
  const PatchResult fresh = second_session.run(component, plain);
  const PatchResult resumed = second_session.run(component, options(true));
  const torch::Tensor from_shard0 = resumed.per_prompt.eq(before.per_prompt);
  const torch::Tensor recomputed = resumed.per_prompt.eq(fresh.per_prompt);
  EXPECT_TRUE(from_shard0.logical_or(recomputed).all().item<bool>());
  EXPECT_GT(from_shard0.logical_and(recomputed.logical_not()).sum().item<int64_t>(), 0);
  EXPECT_GT(recomputed.logical_and(from_shard0.logical_not()).sum().item<int64_t>(), 0);
  EXPECT_EQ(shard_files().size(), 4u);
}

TEST_F(SharedSweep, ShardsOfAnotherRunOrDamagedOnesAreRefusedByName) {
  HookedTransformer m = model(7);
  PatchingSession session(m, inputs(m->config()), MetricKind::kLogitDiff);
  const Component component = parse_components("resid_pre", m->config()).front();
  session.run(component, options(false, "run-a"));
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { session.run(component, options(true, "run-b")); },
                                               "saved by another run"));

  const fs::path damaged = shard_files().front();
  std::string bytes;
  {
    std::ifstream in(damaged, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 3] ^= 0x40;  // one bit of a value
  std::ofstream(damaged, std::ios::binary | std::ios::trunc) << bytes;
  try {
    session.run(component, options(true, "run-a"));
    FAIL() << "a damaged shard was accepted";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find(damaged.filename().string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
}

TEST(WorkShards, ShardsAreContiguousCoverEveryPackAndBalanceWork) {
  std::vector<Pack> packs(10);
  for (size_t i = 0; i < packs.size(); ++i) {
    packs[i].rows.resize(i < 5 ? 4 : 1);  // heavy packs first
    packs[i].first = 2;
  }
  const std::vector<size_t> bounds = shard_bounds(packs, 10, 3);
  ASSERT_EQ(bounds.size(), 4u);
  EXPECT_EQ(bounds.front(), 0u);
  EXPECT_EQ(bounds.back(), packs.size());
  std::vector<int64_t> work;
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    EXPECT_LT(bounds[s], bounds[s + 1]);  // no empty shard
    work.push_back(
        plan_work(std::vector<Pack>(packs.begin() + long(bounds[s]), packs.begin() + long(bounds[s + 1])), 10));
  }
  // Total 8 x (20 + 5) / ... = 200 units; no shard is more than one pack (32 units) off a third.
  for (int64_t w : work) EXPECT_NEAR(double(w), 200.0 / 3.0, 32.0);
  EXPECT_EQ(shard_bounds(packs, 10, 50).size(), packs.size() + 1);  // at most one shard per pack
  EXPECT_EQ(shard_bounds({}, 10, 4), (std::vector<size_t>{0, 0}));
}

}  // namespace
}  // namespace mechlens
