// Run a checkpoint on one prompt with every attention pattern cached, and print what the last
// position attends to in each layer and head.
// usage: run_with_cache CHECKPOINT.safetensors [TOKEN_ID ...]
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <vector>

#include "io/checkpoint.h"
#include "runtime/model.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: {} CHECKPOINT.safetensors [TOKEN_ID ...]\n", argv[0]);
    return 2;
  }
  mechlens::HookedTransformer model = mechlens::load_checkpoint(argv[1]);
  std::vector<int64_t> ids;
  for (int i = 2; i < argc; ++i) ids.push_back(std::atoll(argv[i]));
  if (ids.empty()) ids = {0, 1, 2, 3};
  const torch::Tensor tokens = torch::tensor(ids, torch::kLong).unsqueeze(0);  // [1, pos]

  torch::NoGradGuard no_grad;
  auto [logits, cache] = model->run_with_cache(tokens, model->names_filter({"blocks.*.attn.hook_pattern"}));
  for (int64_t layer = 0; layer < model->config().n_layers; ++layer) {
    const torch::Tensor pattern = cache.get("pattern", layer);  // [batch, head, dest, src]
    for (int64_t head = 0; head < pattern.size(1); ++head) {
      const torch::Tensor row = pattern[0][head][-1];  // the last position's attention over sources
      const int64_t source = row.argmax().item<int64_t>();
      fmt::print("L{}H{}: last position attends most to position {} ({:.3f})\n", layer, head, source,
                 row[source].item<double>());
    }
  }
  fmt::print("prediction at the last position: token {}\n", logits[0][-1].argmax().item<int64_t>());
  return 0;
}
