// The HDF5 record: round trips, selections, resume after interruption, and reader errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "runtime/model.h"
#include "store/h5_util.h"
#include "store/record_reader.h"
#include "store/recorder.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

namespace fs = std::filesystem;

class RecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prompts_ = make_prompt_set({{1, 2, 3, 4, 5, 6}, {7, 8, 9}, {10, 11, 12, 13}, {3, 3, 3, 3, 3, 3}, {5, 4}});
    provenance_.model_config_json = model_->config().to_json().dump();
    provenance_.checkpoint = "in-memory";
    provenance_.input_sha256 = prompt_set_sha256(prompts_);
  }
  std::string path(const std::string& name) const { return dir_.file(name); }

  void record(const std::string& out, const RecordSettings& settings) {
    RecordWriter writer =
        RecordWriter::create(out, settings, provenance_, recorded_dims(model_, settings.hooks), {}, prompts_.size());
    record_activations(model_, prompts_, settings, writer, /*show_progress=*/false);
    writer.finish();
  }

  // Reference: each prompt alone through run_with_cache.
  torch::Tensor single(int64_t i, const std::string& hook) {
    const int64_t len = prompts_.lengths[i].item<int64_t>();
    torch::NoGradGuard no_grad;
    auto [logits, cache] =
        model_->run_with_cache(prompts_.tokens[i].narrow(0, 0, len).unsqueeze(0), model_->names_filter({hook}));
    return cache.at(hook)[0];
  }

  testing::TestDir dir_;
  HookedTransformer model_{testing::tiny_config()};
  PromptSet prompts_;
  RecordProvenance provenance_;
};

TEST_F(RecordTest, Float32RoundTripEqualsPerPromptRuns) {
  RecordSettings settings;
  settings.hooks = {"blocks.1.attn.hook_pattern", "blocks.0.hook_resid_post", "blocks.1.attn.hook_z"};
  settings.batch_size = 2;
  record(path("r.h5"), settings);
  RecordReader reader(path("r.h5"));
  EXPECT_EQ(reader.n_examples(), 5);
  EXPECT_EQ(reader.hooks().size(), 3u);
  EXPECT_EQ(reader.dims("blocks.1.attn.hook_pattern"), (std::vector<std::string>{"batch", "head", "dest", "src"}));
  EXPECT_EQ(reader.shape("blocks.1.attn.hook_pattern"), (std::vector<int64_t>{5, 4, 6, 6}));
  EXPECT_TRUE(testing::tensors_equal(reader.read_tokens(), prompts_.tokens));
  EXPECT_TRUE(testing::tensors_equal(reader.read_lengths(), prompts_.lengths));
  for (int64_t i = 0; i < 5; ++i) {
    const int64_t len = prompts_.lengths[i].item<int64_t>();
    const torch::Tensor resid = reader.read_hook("blocks.0.hook_resid_post", i, 1)[0];
    EXPECT_TRUE(testing::tensors_close(resid.narrow(0, 0, len), single(i, "blocks.0.hook_resid_post"), 1e-5)) << i;
    const torch::Tensor pattern = reader.read_hook("blocks.1.attn.hook_pattern", i, 1)[0];
    EXPECT_TRUE(testing::tensors_close(pattern.narrow(1, 0, len).narrow(2, 0, len),
                                       single(i, "blocks.1.attn.hook_pattern"), 1e-5))
        << i;
  }
}

TEST_F(RecordTest, Float32IsBitExactWithTheBatchedForward) {
  RecordSettings settings;
  settings.hooks = {"blocks.1.hook_resid_post"};
  settings.batch_size = 5;
  prompts_ = make_prompt_set({{1, 2, 3}, {4, 5, 6}});
  provenance_.input_sha256 = prompt_set_sha256(prompts_);
  record(path("b.h5"), settings);
  torch::NoGradGuard no_grad;
  auto [logits, cache] = model_->run_with_cache(prompts_.tokens, model_->names_filter(settings.hooks));
  EXPECT_TRUE(testing::tensors_equal(RecordReader(path("b.h5")).read_hook("blocks.1.hook_resid_post"),
                                     cache.at("blocks.1.hook_resid_post")));
}

TEST_F(RecordTest, Float16AndGzipWithinHalfPrecision) {
  RecordSettings f32, f16;
  f32.hooks = f16.hooks = {"blocks.0.hook_resid_pre", "blocks.0.attn.hook_pattern"};
  f16.dtype = torch::kHalf;
  f16.gzip_level = 4;
  record(path("f32.h5"), f32);
  record(path("f16.h5"), f16);
  RecordReader full(path("f32.h5")), half(path("f16.h5"));
  EXPECT_EQ(half.attribute("dtype"), "float16");
  for (const auto& hook : f32.hooks) {
    const torch::Tensor a = full.read_hook(hook), b = half.read_hook(hook);
    EXPECT_TRUE(testing::tensors_equal(b, a.to(torch::kHalf).to(torch::kFloat32))) << hook;
  }
}

TEST_F(RecordTest, PositionAndHeadSelectionsKeepTheRightSlices) {
  RecordSettings settings;
  settings.hooks = {"blocks.1.attn.hook_pattern", "blocks.1.hook_resid_mid"};
  settings.positions = "-2:";
  settings.heads = "1,3";
  settings.batch_size = 3;
  record(path("s.h5"), settings);
  RecordReader reader(path("s.h5"));
  EXPECT_EQ(reader.shape("blocks.1.attn.hook_pattern"), (std::vector<int64_t>{5, 2, 2, 6}));
  EXPECT_EQ(reader.shape("blocks.1.hook_resid_mid"), (std::vector<int64_t>{5, 2, 16}));
  const torch::Tensor positions = reader.read_positions();
  for (int64_t i = 0; i < 5; ++i) {
    const int64_t len = prompts_.lengths[i].item<int64_t>();
    EXPECT_EQ(positions[i][0].item<int64_t>(), len - 2);
    EXPECT_EQ(positions[i][1].item<int64_t>(), len - 1);
    const torch::Tensor expected_mid = single(i, "blocks.1.hook_resid_mid").narrow(0, len - 2, 2);
    EXPECT_TRUE(testing::tensors_close(reader.read_hook("blocks.1.hook_resid_mid", i, 1)[0], expected_mid, 1e-5));
    const torch::Tensor expected_pattern =
        single(i, "blocks.1.attn.hook_pattern").index_select(0, torch::tensor({1, 3})).narrow(1, len - 2, 2);
    EXPECT_TRUE(testing::tensors_close(reader.read_hook("blocks.1.attn.hook_pattern", i, 1)[0].narrow(2, 0, len),
                                       expected_pattern, 1e-5));
  }
  settings.positions = "1:";  // prompts of different lengths would keep different counts
  EXPECT_TRUE(testing::throws_with<InputError>([&] { record(path("bad.h5"), settings); },
                                               "keeps 5 positions of prompt 0 but 2 of prompt 1"));
  settings.positions = "-5:";
  EXPECT_TRUE(testing::throws_with<InputError>([&] { record(path("bad.h5"), settings); }, "prompt 1 (3 tokens)"));
}

TEST_F(RecordTest, InterruptedRunLeavesNoFinalFileAndResumeMatchesUninterrupted) {
  RecordSettings settings;
  settings.hooks = {"blocks.0.attn.hook_pattern", "blocks.1.hook_resid_post"};
  settings.batch_size = 2;
  provenance_.vocab = {"<pad>", "a", "b", "c"};  // a fixed-size dataset beside the row-wise ones
  record(path("full.h5"), settings);
  const auto dims = recorded_dims(model_, settings.hooks);
  {
    // Two batches written, then the writer is dropped without finish(), as a killed run.
    RecordWriter writer = RecordWriter::create(path("cut.h5"), settings, provenance_, dims, {}, prompts_.size());
    PromptSet first = prompts_;
    first.tokens = prompts_.tokens.narrow(0, 0, 4);
    first.lengths = prompts_.lengths.narrow(0, 0, 4);
    record_activations(model_, first, settings, writer, false);
    EXPECT_EQ(writer.n_written(), 4);
  }
  EXPECT_FALSE(fs::exists(path("cut.h5")));
  EXPECT_TRUE(fs::exists(path("cut.h5") + kPartialSuffix));
  EXPECT_TRUE(
      testing::throws_with<StoreError>([&] { RecordReader reader(path("cut.h5")); }, "resume it with --resume"));

  RecordSettings other = settings;
  other.batch_size = 3;
  EXPECT_TRUE(testing::throws_with<StoreError>(
      [&] { RecordWriter::resume(path("cut.h5"), other, provenance_, dims, {}, prompts_.size()); },
      "batch_size: file has 2, this run 3"));

  RecordWriter resumed = RecordWriter::resume(path("cut.h5"), settings, provenance_, dims, {}, prompts_.size());
  EXPECT_EQ(resumed.n_written(), 4);
  record_activations(model_, prompts_, settings, resumed, false);
  resumed.finish();
  RecordReader a(path("full.h5")), b(path("cut.h5"));
  EXPECT_TRUE(testing::tensors_equal(a.read_tokens(), b.read_tokens()));
  for (const auto& hook : settings.hooks)
    EXPECT_TRUE(testing::tensors_equal(a.read_hook(hook), b.read_hook(hook))) << hook;
}

TEST_F(RecordTest, ReaderErrorsNameFileAndProblem) {
  RecordSettings settings;
  settings.hooks = {"blocks.0.hook_resid_pre"};
  record(path("ok.h5"), settings);
  {
    RecordReader reader(path("ok.h5"));
    EXPECT_TRUE(testing::throws_with<StoreError>([&] { reader.read_hook("blocks.0.hook_resid_post"); },
                                                 "record holds no hook 'blocks.0.hook_resid_post'"));
    EXPECT_TRUE(testing::throws_with<StoreError>([&] { reader.read_hook("blocks.0.hook_resid_pre", 4, 3); },
                                                 "rows [4, 7) requested, the dataset has 5"));
  }
  fs::copy_file(path("ok.h5"), path("trunc.h5"));
  fs::resize_file(path("trunc.h5"), fs::file_size(path("trunc.h5")) / 2);
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { RecordReader bad(path("trunc.h5")); }, "trunc.h5:"));
  {
    H5::H5File file(path("ok.h5"), H5F_ACC_RDWR);
    h5::write_attr(file, "format_version", int64_t{7});
  }
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { RecordReader bad(path("ok.h5")); },
                                               "format_version is 7, this mechlens reads version 1"));
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { RecordReader bad(path("none.h5")); }, "no such record file"));
}

}  // namespace
}  // namespace mechlens
