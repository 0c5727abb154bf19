// Optimiser states for --resume: named by parameter, the same bytes in every process, exact on
// reload, refused when they do not fit; states in LibTorch's older archive format still load.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>

#include "test_util.h"
#include "train/legacy_state.h"
#include "train/optimizer_state.h"
#include "util/error.h"

namespace mechlens {
namespace {

// A small model whose weights depend only on `seed`, and its parameters by name.
struct Model {
  explicit Model(int64_t out_features = 3, uint64_t seed = 5) {
    torch::manual_seed(seed);
    first = torch::nn::Linear(4, out_features);
    second = torch::nn::Linear(out_features, 2);
    named = {{"first.weight", first->weight},
             {"first.bias", first->bias},
             {"second.weight", second->weight},
             {"second.bias", second->bias}};
    for (const auto& item : named) parameters.push_back(item.second);
  }
  // One AdamW step on a fixed batch.
  void step(torch::optim::AdamW& optimizer) {
    torch::manual_seed(11);
    const torch::Tensor x = torch::randn({6, 4});
    optimizer.zero_grad();
    second->forward(torch::relu(first->forward(x))).pow(2).mean().backward();
    optimizer.step();
  }
  torch::nn::Linear first{nullptr}, second{nullptr};
  NamedParameters named;
  std::vector<torch::Tensor> parameters;
};

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(OptimizerStateTest, TheSameStateGivesTheSameBytesWhereverItsParametersLive) {
  const testing::TestDir dir;
  Model a, b;  // equal weights at different addresses (LibTorch's own archive keys them by address)
  torch::optim::AdamW opt_a(a.parameters, torch::optim::AdamWOptions(1e-2));
  torch::optim::AdamW opt_b(b.parameters, torch::optim::AdamWOptions(1e-2));
  a.step(opt_a), a.step(opt_a);
  b.step(opt_b), b.step(opt_b);
  write_optimizer_state(opt_a, a.named, {{"step", "2"}}, dir.file("a.state"));
  write_optimizer_state(opt_b, b.named, {{"step", "2"}}, dir.file("b.state"));
  EXPECT_EQ(bytes_of(dir.file("a.state")), bytes_of(dir.file("b.state")));
  EXPECT_TRUE(is_named_optimizer_state(dir.file("a.state")));
  EXPECT_EQ(read_optimizer_state_metadata(dir.file("a.state")).at("step"), "2");
}

TEST(OptimizerStateTest, AReloadedStateContinuesExactly) {
  const testing::TestDir dir;
  Model straight, resumed;
  torch::optim::AdamW opt_straight(straight.parameters, torch::optim::AdamWOptions(1e-2));
  torch::optim::AdamW opt_first(resumed.parameters, torch::optim::AdamWOptions(1e-2));
  straight.step(opt_straight), straight.step(opt_straight), straight.step(opt_straight);
  resumed.step(opt_first), resumed.step(opt_first);
  write_optimizer_state(opt_first, resumed.named, {}, dir.file("s.state"));
  // A fresh optimizer over the same parameters, as a resumed run builds it, then the third step.
  torch::optim::AdamW opt_second(resumed.parameters, torch::optim::AdamWOptions(1e-2));
  load_optimizer_state(opt_second, resumed.named, dir.file("s.state"));
  resumed.step(opt_second);
  for (size_t i = 0; i < straight.named.size(); ++i) {
    EXPECT_TRUE(testing::tensors_equal(resumed.named[i].second, straight.named[i].second)) << straight.named[i].first;
  }
}

TEST(OptimizerStateTest, AStateOfAnotherModelIsRefusedByName) {
  const testing::TestDir dir;
  Model saved;
  torch::optim::AdamW opt_saved(saved.parameters, torch::optim::AdamWOptions(1e-2));
  saved.step(opt_saved);
  write_optimizer_state(opt_saved, saved.named, {}, dir.file("s.state"));

  Model wider(/*out_features=*/5);
  torch::optim::AdamW opt_wider(wider.parameters, torch::optim::AdamWOptions(1e-2));
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { load_optimizer_state(opt_wider, wider.named, dir.file("s.state")); },
                                       "'first.weight.exp_avg' has shape [3, 4], expected [5, 4]"));
  // A parameter the state has and this run does not train.
  Model fewer;
  NamedParameters without_bias(fewer.named.begin(), fewer.named.end() - 1);
  torch::optim::AdamW opt_fewer(fewer.parameters, torch::optim::AdamWOptions(1e-2));
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { load_optimizer_state(opt_fewer, without_bias, dir.file("s.state")); },
                                       "'second.bias.exp_avg' belongs to no parameter this run trains"));

  std::ofstream(dir.file("junk.state")) << "not a state";
  EXPECT_TRUE(testing::throws_with<InputError>([&] { read_optimizer_state_metadata(dir.file("junk.state")); },
                                               "not a readable optimiser state"));
}

TEST(OptimizerStateTest, AStateInLibTorchsArchiveFormatStillLoads) {
  const testing::TestDir dir;
  Model saved;
  torch::optim::AdamW opt_saved(saved.parameters, torch::optim::AdamWOptions(1e-2));
  saved.step(opt_saved);
  // As states were written before the named format: the optimizer's archive plus step and hash.
  torch::serialize::OutputArchive archive;
  opt_saved.save(archive);
  archive.write("step", torch::tensor(int64_t(7)));
  std::string hash = "ab12";
  archive.write("checkpoint_sha256", torch::from_blob(hash.data(), {4}, torch::kChar).clone());
  archive.save_to(dir.file("old.state"));

  EXPECT_FALSE(is_named_optimizer_state(dir.file("old.state")));
  const auto header = read_legacy_state_header(dir.file("old.state"), torch::kCPU);
  EXPECT_EQ(header.at("step"), "7");
  EXPECT_EQ(header.at("checkpoint_sha256"), "ab12");
  torch::optim::AdamW opt_loaded(saved.parameters, torch::optim::AdamWOptions(1e-2));
  load_legacy_state(opt_loaded, dir.file("old.state"), torch::kCPU);
  // Written again in the named format, the loaded state equals the original.
  write_optimizer_state(opt_saved, saved.named, {}, dir.file("a.state"));
  write_optimizer_state(opt_loaded, saved.named, {}, dir.file("b.state"));
  EXPECT_EQ(bytes_of(dir.file("a.state")), bytes_of(dir.file("b.state")));
}

}  // namespace
}  // namespace mechlens
