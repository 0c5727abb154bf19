// The shipped logic checkpoint loads, solves held-out problems exactly, and greedy decoding agrees
// with the teacher-forced exact-match metric the trainer reports.
#include <gtest/gtest.h>

#include "io/checkpoint.h"
#include "tasks/logic_task.h"
#include "train/evaluation.h"

namespace mechlens {
namespace {

TEST(ShippedCheckpointTest, LogicModelProvesHeldOutProblemsExactly) {
  HookedTransformer model = load_checkpoint(MECHLENS_SOURCE_DIR "/data/checkpoints/logic_3l3h.safetensors");
  EXPECT_EQ(model->config().n_layers, 3);
  EXPECT_EQ(model->config().n_heads, 3);
  const LogicTask task{LogicSettings{}};
  const auto examples = generate_examples(task, 300, /*seed=*/987654);
  const auto metrics = evaluate(model, examples);
  EXPECT_EQ(metrics.at("all").exact_match, 1.0);
  EXPECT_EQ(metrics.at("linear").first_token_accuracy, 1.0);
  const auto decoded = greedy_decode(model, examples, 40, logic_tokens::kEos);
  for (size_t i = 0; i < examples.size(); ++i) {
    std::vector<int64_t> expected = examples[i].prompt;
    expected.insert(expected.end(), examples[i].answer.begin(), examples[i].answer.end());
    EXPECT_EQ(decoded[i], expected) << task.render(examples[i]);
  }
}

}  // namespace
}  // namespace mechlens
