// The embedding subspace of a token set: its dimension and each row's share equal a hand computation
// on embeddings built along known axes, a random direction holds about dims / d_model of itself in
// it, and bad token sets or energies are refused with their reason.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "matching/embedding_subspace.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

// W_E [8, 6]: reference rows 1 = 3 e0 and 2 = e1 (singular values 3 and 1: shares 0.9 and 0.1 of the
// squared norm); scored rows 3 = e0, 4 = e1, 5 = e0 + e2, 6 = e5, 7 = 0.
torch::Tensor axis_embeddings() {
  torch::Tensor embed = torch::zeros({8, 6}, torch::kFloat32);
  embed[1][0] = 3;
  embed[2][1] = 1;
  embed[3][0] = 1;
  embed[4][1] = 1;
  embed[5][0] = 1;
  embed[5][2] = 1;
  embed[6][5] = 1;
  return embed;
}

TEST(EmbeddingSubspaceTest, DimensionAndSharesEqualAHandComputation) {
  const torch::Tensor embed = axis_embeddings();
  const EmbeddingSubspace one = embedding_subspace(embed, {1, 2}, {3, 4, 5, 6}, 0.85);
  EXPECT_EQ(one.dims, 1);  // e0 alone holds 0.9 >= 0.85
  EXPECT_EQ(one.d_model, 6);
  EXPECT_TRUE(testing::tensors_close(one.share, torch::tensor({1.0, 0.0, 0.5, 0.0}, torch::kFloat64), 1e-12));
  const EmbeddingSubspace two = embedding_subspace(embed, {1, 2}, {3, 4, 5, 6}, 0.95);
  EXPECT_EQ(two.dims, 2);
  EXPECT_TRUE(testing::tensors_close(two.share, torch::tensor({1.0, 1.0, 0.5, 0.0}, torch::kFloat64), 1e-12));
  EXPECT_EQ(embedding_subspace(embed, {1, 2}, {3}, 1.0).dims, 2);  // never more than the rows' rank
}

TEST(EmbeddingSubspaceTest, RandomDirectionsHoldDimsOverDModel) {
  torch::manual_seed(3);
  const torch::Tensor embed = torch::randn({600, 64});
  std::vector<int64_t> reference, scored;
  for (int64_t t = 0; t < 100; ++t) reference.push_back(t);
  for (int64_t t = 100; t < 600; ++t) scored.push_back(t);
  const EmbeddingSubspace subspace = embedding_subspace(embed, reference, scored, 0.9);
  ASSERT_GT(subspace.dims, 10);
  ASSERT_LT(subspace.dims, 64);
  EXPECT_NEAR(subspace.share.mean().item<double>(), double(subspace.dims) / 64.0, 0.02);
  // The reference rows themselves hold about `energy` of their squared norm in it.
  const EmbeddingSubspace own = embedding_subspace(embed, reference, reference, 0.9);
  EXPECT_GT(own.share.mean().item<double>(), 0.88);
}

TEST(EmbeddingSubspaceTest, RefusesBadTokenSetsAndEnergies) {
  const torch::Tensor embed = axis_embeddings();
  EXPECT_TRUE(testing::throws_with<InputError>([&] { embedding_subspace(embed, {}, {3}); },
                                               "the reference token set is empty"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] {
        embedding_subspace(embed, {1, 9}, {3});
      },
      "reference token 9 is outside the vocabulary (0..7)"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] {
        embedding_subspace(embed, {1}, {3, -1});
      },
      "scored token -1 is outside"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] {
        embedding_subspace(embed, {1, 2}, {3}, 1.5);
      },
      "1.5 is not in (0, 1]"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] {
        embedding_subspace(embed, {1, 2}, {3}, 0.0);
      },
      "0 is not in (0, 1]"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [&] {
        embedding_subspace(embed, {1, 2}, {3, 7});
      },
      "token 7's row of W_E is zero"));
}

}  // namespace
}  // namespace mechlens
