// Circuit-tracing speed and memory, each against a baseline in the same process:
//   small: the shipped 3-layer logic model, 64 prompts (38 tokens): information-flow routes vs one
//          forward that caches every hook; the batched knock-out grid (every layer x every named
//          span of the task) vs a loop of masked full forwards, one per knock-out, as
//          TransformerLens users write it (KnockoutSession::run_naive); both grids checked equal.
//   gpt2:  a GPT-2-small shape (12 layers, d_model 768, 12 heads, d_mlp 3072, vocab 50257; random
//          weights), one prompt of N tokens (default 128): information flow vs the cached forward.
//   memory: the same model at N tokens (default 256): peak resident memory of the streaming flow
//          computation, over the model's own footprint (run it in a process of its own).
// Usage: trace_bench small | gpt2 [N] | memory [N]
#include <fmt/format.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstring>

#include "bench_models.h"
#include "bench_timing.h"
#include "io/checkpoint.h"
#include "tasks/example_tensors.h"
#include "tasks/task_factory.h"
#include "tracing/information_flow.h"
#include "tracing/knockout.h"
#include "util/process_setup.h"

using namespace mechlens;
using mechlens::bench::median_seconds;

namespace {

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

HookedTransformer gpt2_shape(int64_t n_ctx) {
  ModelConfig config = bench::gpt2_small_shape(/*d_vocab=*/50257, n_ctx);
  config.act_fn = ActFn::kGELUNew;  // GPT-2's own
  config.seed = 1;
  HookedTransformer model(config);
  model->eval();
  return model;
}

void flow_vs_forward(HookedTransformer& model, const torch::Tensor& tokens, const std::string& name) {
  torch::NoGradGuard no_grad;
  const double forward = median_seconds(5, [&] { model->run_with_cache(tokens); });
  const double flow = median_seconds(5, [&] { information_flow(model, tokens); });
  fmt::print("{}: {} prompt(s) x {} tokens\n", name, tokens.size(0), tokens.size(1));
  fmt::print("  forward with the full cache   {:8.3f} s\n", forward);
  fmt::print("  information flow (all layers) {:8.3f} s   = {:.2f}x one cached forward\n", flow, flow / forward);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: trace_bench small | gpt2 [N] | memory [N]\n");
    return 2;
  }
  const int threads = configure_process();
  const std::string mode = argv[1];
  if (mode == "small") {
    HookedTransformer model =
        load_checkpoint(std::string(MECHLENS_SOURCE_DIR) + "/data/checkpoints/logic_3l3h.safetensors");
    model->eval();
    std::unique_ptr<Task> task = make_task("logic", {});
    const std::vector<Example> examples = generate_examples(*task, 64, 7);
    AnswerPrompts prompts;
    prompts.tokens = to_tensors(examples, false).tokens;
    std::vector<int64_t> correct;
    for (const Example& e : examples) correct.push_back(e.answer[0]);
    prompts.correct = torch::tensor(correct, torch::kLong);
    prompts.answer_pos = torch::full({prompts.batch()}, prompts.positions() - 1, torch::kLong);
    fmt::print("threads: {}\n", threads);
    flow_vs_forward(model, prompts.tokens, "logic_3l3h (3 layers, d_model 128)");

    KnockoutOptions options;
    const std::vector<std::string> names = task->span_names();
    for (size_t i = 0; i < names.size(); ++i) {
      PositionSpan span{names[i], {}};
      for (const Example& e : examples) span.per_prompt.push_back(task->span_positions(e)[i]);
      options.sources.push_back(source_from_span(span, prompts.positions()));
    }
    KnockoutSession session(model, prompts);
    KnockoutResult batched, naive;
    const double fast = median_seconds(3, [&] { batched = session.run(options); });
    const double slow = median_seconds(1, [&] { naive = session.run_naive(options); });
    const double diff = (batched.prob - naive.prob).abs().max().item<double>();
    const double effect = (batched.prob - batched.base_prob).abs().max().item<double>();
    fmt::print("knock-out grid: {} layers x {} source spans x {} prompts (answer position)\n", 3, names.size(),
               prompts.batch());
    fmt::print("  loop of masked full forwards  {:8.3f} s\n", slow);
    fmt::print(
        "  batched plan                  {:8.3f} s   = {:.1f}x faster (max |p - p_loop| {:.1e}; largest "
        "knock-out effect |p - p0| {:.2f})\n",
        fast, slow / fast, diff, effect);
    return 0;
  }
  const int64_t n_tokens = argc > 2 ? std::atoll(argv[2]) : (mode == "memory" ? 256 : 128);
  HookedTransformer model = gpt2_shape(std::max<int64_t>(n_tokens, 1));
  torch::manual_seed(3);
  const torch::Tensor tokens = torch::randint(50257, {1, n_tokens}, torch::kLong);
  if (mode == "gpt2") {
    fmt::print("threads: {}\n", threads);
    flow_vs_forward(model, tokens, "GPT-2-small shape (12 layers, d_model 768, vocab 50257)");
    return 0;
  }
  if (mode == "memory") {
    torch::NoGradGuard no_grad;
    model->forward(tokens);  // the forward's own working set
    const double before = peak_rss_mib();
    const InformationFlow flow = information_flow(model, tokens);
    const double after = peak_rss_mib();
    const double kept = double(flow.attention.numel()) * 4 / (1 << 20);
    fmt::print(
        "GPT-2-small shape, {} tokens: peak RSS {:.0f} MiB after a forward, {:.0f} MiB after the flow "
        "(+{:.0f} MiB; the result's shares hold {:.0f} MiB)\n",
        n_tokens, before, after, after - before, kept);
    return 0;
  }
  fmt::print(stderr, "unknown mode '{}'\n", mode);
  return 2;
}
