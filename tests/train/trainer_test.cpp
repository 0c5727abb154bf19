// The trainer: schedule, targets, learning, and exact resumption.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/checkpoint.h"
#include "tasks/logic_task.h"
#include "tasks/matching_task.h"
#include "test_util.h"
#include "train/sequences.h"
#include "train/trainer.h"
#include "util/error.h"

namespace mechlens {
namespace {

ModelConfig matching_model() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 32;
  c.n_heads = 2;
  c.d_head = 16;
  c.d_mlp = 64;
  c.n_ctx = 16;
  c.d_vocab = MatchingTask::kVocab;
  c.seed = 3;
  return c;
}

TEST(LrScheduleTest, WarmupThenCosine) {
  LrSchedule s{/*lr=*/1e-3, /*min_lr=*/1e-5, /*warmup_steps=*/10, /*warmup_start=*/0.1, /*total_steps=*/110};
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4);
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);
  EXPECT_NEAR(s.at(60), (1e-3 + 1e-5) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(s.at(110), 1e-5);
  EXPECT_LT(s.at(80), s.at(40));
}

TEST(SequencesTest, TargetsOnlyAtAnswerPositions) {
  Example e;
  e.prompt = {5, 6, 7};
  e.answer = {8, 9};
  const TrainingBatch batch = make_training_batch({e});
  EXPECT_TRUE(testing::tensors_equal(batch.tokens, torch::tensor({{5, 6, 7, 8, 9}}, torch::kLong)));
  EXPECT_TRUE(testing::tensors_equal(batch.targets, torch::tensor({{-100, -100, 8, 9, -100}}, torch::kLong)));
  EXPECT_EQ(batch.first_answer[0].item<int64_t>(), 2);
}

TEST(SequencesTest, LossPositionsGatherTheSameTargets) {
  Example a, b;
  a.prompt = {5, 6, 7};
  a.answer = {8, 9};
  b.prompt = {4, 3};
  b.answer = {2, 1, 11};
  const TrainingBatch batch = make_training_batch({a, b});
  // Row a has two targets; its third slot repeats the last position with no target.
  EXPECT_TRUE(testing::tensors_equal(batch.loss_positions, torch::tensor({{2, 3, 3}, {1, 2, 3}}, torch::kLong)));
  EXPECT_TRUE(testing::tensors_equal(batch.loss_targets, torch::tensor({{8, 9, -100}, {2, 1, 11}}, torch::kLong)));
  // Every target of the full table appears once, at its position.
  const torch::Tensor gathered = batch.targets.gather(1, batch.loss_positions);
  const torch::Tensor real = batch.loss_targets.ne(-100);
  EXPECT_TRUE(testing::tensors_equal(gathered.masked_select(real), batch.loss_targets.masked_select(real)));
  EXPECT_EQ(batch.targets.ne(-100).sum().item<int64_t>(), real.sum().item<int64_t>());
}

class TrainerTest : public ::testing::Test {
 protected:
  TrainSettings settings(const std::string& name, int64_t steps) const {
    TrainSettings s;
    s.steps = steps;
    s.batch_size = 16;
    s.schedule.lr = 3e-3;
    s.schedule.warmup_steps = 2;
    s.schedule.total_steps = steps;
    s.eval_every = 0;
    s.out = dir_.file(name);
    s.show_progress = false;
    return s;
  }
  // 8 steps, evaluated and logged every 2 to NAME.csv, checkpointed every step.
  TrainSettings logged_settings(const std::string& name) const {
    TrainSettings s = settings(name + ".safetensors", 8);
    s.eval_every = 2;
    s.checkpoint_every = 1;
    s.log_path = dir_.file(name + ".csv");
    return s;
  }
  testing::TestDir dir_;
  MatchingTask task_{MatchingSettings{}};
};

TEST_F(TrainerTest, LossFallsOnHeldOutExamples) {
  HookedTransformer model(matching_model());
  const auto eval = generate_examples(task_, 200, 99);
  const double before = evaluate(model, eval).at("all").loss;
  const TrainResult result = train(model, task_, eval, settings("a.safetensors", 40));
  EXPECT_LT(result.final_metrics.at("all").loss, before - 0.5);
  EXPECT_GT(result.tokens_per_second, 0.0);
  // The checkpoint holds the trained weights and the training metadata.
  HookedTransformer loaded = load_checkpoint(settings("a.safetensors", 40).out);
  EXPECT_TRUE(testing::tensors_equal(loaded->embed->W_E, model->embed->W_E));
}

TEST_F(TrainerTest, ResumedRunEqualsUninterruptedRun) {
  const auto eval = generate_examples(task_, 50, 99);
  HookedTransformer straight(matching_model());
  train(straight, task_, eval, settings("straight.safetensors", 8));

  HookedTransformer first(matching_model());
  TrainSettings part = settings("resumed.safetensors", 8);
  part.stop_after = 3;
  train(first, task_, eval, part);
  HookedTransformer second(matching_model());
  TrainSettings rest = settings("resumed.safetensors", 8);
  rest.resume = true;
  const TrainResult result = train(second, task_, eval, rest);
  EXPECT_EQ(result.steps_done, 5);
  auto expected = straight->named_parameters();
  for (const auto& item : second->named_parameters()) {
    EXPECT_TRUE(testing::tensors_equal(item.value(), expected[item.key()])) << item.key();
  }
}

TEST_F(TrainerTest, ResumedRunLogsWhatAnUninterruptedRunLogsEvenWhenKilledBeforeItsFirstRow) {
  const auto eval = generate_examples(task_, 20, 99);
  HookedTransformer straight(matching_model());
  train(straight, task_, eval, logged_settings("straight"));
  auto text = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // Killed after its first checkpoint, before any row or even the header reached the disk: an empty log.
  for (const int64_t stop_after : {1, 5}) {
    const std::string name = "killed" + std::to_string(stop_after);
    HookedTransformer first(matching_model());
    TrainSettings part = logged_settings(name);
    part.stop_after = stop_after;
    train(first, task_, eval, part);
    if (stop_after == 1) std::ofstream(part.log_path, std::ios::trunc).close();
    HookedTransformer second(matching_model());
    TrainSettings rest = logged_settings(name);
    rest.resume = true;
    train(second, task_, eval, rest);
    EXPECT_EQ(text(rest.log_path), text(dir_.file("straight.csv"))) << name;
  }
}

// A run started before an evaluation group existed (the matching task's ood_decoy) keeps its log's
// columns when a newer version resumes it; a log with a group this run no longer has is refused.
TEST_F(TrainerTest, ResumedRunKeepsItsLogsColumns) {
  const auto eval = generate_examples(task_, 20, 99);  // groups all, train, train/order2
  auto with_test = eval;
  MatchingSettings test_split;
  test_split.split = MatchingSplit::kTest;
  for (auto& e : generate_examples(MatchingTask{test_split}, 20, 98)) with_test.push_back(std::move(e));
  auto lines = [](const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  HookedTransformer first(matching_model());
  TrainSettings part = logged_settings("grown");
  part.stop_after = 5;
  train(first, task_, eval, part);
  const std::string header = lines(part.log_path).at(0);
  ASSERT_EQ(header.find("test_loss"), std::string::npos);

  HookedTransformer second(matching_model());
  TrainSettings rest = logged_settings("grown");
  rest.resume = true;
  train(second, task_, with_test, rest);
  const std::vector<std::string> log = lines(rest.log_path);
  ASSERT_EQ(log.size(), 5u);  // header, steps 2, 4, 6, 8
  EXPECT_EQ(log[0], header);
  const auto fields = [](const std::string& line) { return std::count(line.begin(), line.end(), ','); };
  for (const std::string& row : log) EXPECT_EQ(fields(row), fields(header)) << row;

  // The other way round: the log has test columns this run would not write.
  HookedTransformer third(matching_model());
  TrainSettings wider = logged_settings("narrowed");
  wider.stop_after = 5;
  train(third, task_, with_test, wider);
  HookedTransformer fourth(matching_model());
  TrainSettings narrower = logged_settings("narrowed");
  narrower.resume = true;
  EXPECT_TRUE(
      testing::throws_with<InputError>([&] { train(fourth, task_, eval, narrower); }, "narrowed.csv has the columns"));
}

TEST_F(TrainerTest, ResumeRefusesChangedSettingsAndAStateOfAnotherCheckpoint) {
  const auto eval = generate_examples(task_, 20, 99);
  HookedTransformer first(matching_model());
  TrainSettings part = settings("pair.safetensors", 8);
  part.stop_after = 3;
  train(first, task_, eval, part);

  HookedTransformer changed(matching_model());
  TrainSettings other_seed = settings("pair.safetensors", 8);
  other_seed.resume = true;
  other_seed.seed = part.seed + 1;
  EXPECT_TRUE(testing::throws_with<InputError>([&] { train(changed, task_, eval, other_seed); },
                                               "was trained with other settings: seed: run"));
  TrainSettings other_lr = settings("pair.safetensors", 8);
  other_lr.resume = true;
  other_lr.schedule.lr *= 2;
  EXPECT_TRUE(testing::throws_with<InputError>([&] { train(changed, task_, eval, other_lr); }, "lr: run"));

  // The checkpoint replaced without its state (as a kill between the two writes leaves them).
  HookedTransformer later(matching_model());
  TrainSettings more = settings("later.safetensors", 8);
  more.stop_after = 4;
  train(later, task_, eval, more);
  std::filesystem::copy_file(more.out, part.out, std::filesystem::copy_options::overwrite_existing);
  TrainSettings rest = settings("pair.safetensors", 8);
  rest.resume = true;
  EXPECT_TRUE(testing::throws_with<InputError>([&] { train(changed, task_, eval, rest); },
                                               "does not belong to the checkpoint"));
}

TEST_F(TrainerTest, AKillBetweenTheTwoRenamesStillResumesExactly) {
  const auto eval = generate_examples(task_, 20, 99);
  HookedTransformer straight(matching_model());
  train(straight, task_, eval, settings("straight.safetensors", 8));

  HookedTransformer first(matching_model());
  TrainSettings part = settings("killed.safetensors", 8);
  part.stop_after = 3;
  train(first, task_, eval, part);
  const std::string state = part.out + ".state";
  std::filesystem::copy_file(state, state + ".step3");
  TrainSettings more = settings("killed.safetensors", 8);
  more.resume = true;
  more.stop_after = 1;
  HookedTransformer second(matching_model());
  train(second, task_, eval, more);
  // As if killed after renaming the step-4 checkpoint but before renaming its state.
  std::filesystem::rename(state, state + ".partial");
  std::filesystem::rename(state + ".step3", state);

  TrainSettings rest = settings("killed.safetensors", 8);
  rest.resume = true;
  HookedTransformer third(matching_model());
  EXPECT_EQ(train(third, task_, eval, rest).steps_done, 4);
  auto expected = straight->named_parameters();
  for (const auto& item : third->named_parameters()) {
    EXPECT_TRUE(testing::tensors_equal(item.value(), expected[item.key()])) << item.key();
  }
}

TEST_F(TrainerTest, FrozenParametersKeepTheirValuesAndTheRestTrains) {
  const auto eval = generate_examples(task_, 20, 99);
  HookedTransformer initial(matching_model());
  HookedTransformer model(matching_model());
  TrainSettings frozen = settings("frozen.safetensors", 6);
  frozen.frozen = {"embed.W_E", "blocks.1"};
  train(model, task_, eval, frozen);
  auto before = initial->named_parameters();
  int64_t changed = 0;
  for (const auto& item : model->named_parameters()) {
    const bool kept = item.key() == "embed.W_E" || item.key().rfind("blocks.1.", 0) == 0;
    if (kept) EXPECT_TRUE(testing::tensors_equal(item.value(), before[item.key()])) << item.key();
    else changed += !testing::tensors_equal(item.value(), before[item.key()]);
    EXPECT_TRUE(item.value().requires_grad()) << item.key() << ": left frozen after training";
  }
  EXPECT_GT(changed, 5);  // the other weights did train
  // A resumed run must freeze the same parameters; names that select nothing are refused.
  TrainSettings part = settings("staged.safetensors", 6);
  part.frozen = {"embed.W_E"};
  part.stop_after = 2;
  HookedTransformer first(matching_model());
  train(first, task_, eval, part);
  TrainSettings unfrozen = settings("staged.safetensors", 6);
  unfrozen.resume = true;
  HookedTransformer second(matching_model());
  EXPECT_TRUE(testing::throws_with<InputError>([&] { train(second, task_, eval, unfrozen); }, "frozen"));
  // A run refused after freezing (a resume with another seed) still gives the gradients back.
  TrainSettings refused = settings("staged.safetensors", 6);
  refused.frozen = {"embed.W_E"};
  refused.resume = true;
  refused.seed = 9;
  HookedTransformer third(matching_model());
  EXPECT_THROW(train(third, task_, eval, refused), InputError);
  EXPECT_TRUE(third->embed->W_E.requires_grad());
  TrainSettings typo = settings("typo.safetensors", 2);
  typo.frozen = {"embed.W"};
  EXPECT_TRUE(testing::throws_with<InputError>([&] { train(second, task_, eval, typo); },
                                               "--freeze 'embed.W': no parameter of this model"));
}

TEST_F(TrainerTest, MismatchedModelAndTaskAreRejected) {
  ModelConfig small = matching_model();
  small.d_vocab = 50;
  HookedTransformer model(small);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { train(model, task_, {}, settings("x.safetensors", 1)); },
                                               "d_vocab=50 is smaller than the matching task's vocabulary of 201"));
  LogicTask logic{LogicSettings{}};
  ModelConfig short_ctx = matching_model();
  HookedTransformer short_model(short_ctx);
  EXPECT_TRUE(testing::throws_with<InputError>([&] { train(short_model, logic, {}, settings("x.safetensors", 1)); },
                                               "n_ctx=16 is shorter than the logic task's sequences"));
}

}  // namespace
}  // namespace mechlens
