// A custom hook: zero one attention head's output (hook_z) and compare the prediction and the
// correct-answer logit with the clean run. The same pattern ablates, patches or steers anything.
// usage: ablate_head CHECKPOINT.safetensors LAYER HEAD TOKEN_ID...
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "runtime/model.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    fmt::print(stderr, "usage: {} CHECKPOINT.safetensors LAYER HEAD TOKEN_ID...\n", argv[0]);
    return 2;
  }
  mechlens::HookedTransformer model = mechlens::load_checkpoint(argv[1]);
  const int64_t layer = std::atoll(argv[2]), head = std::atoll(argv[3]);
  std::vector<int64_t> ids;
  for (int i = 4; i < argc; ++i) ids.push_back(std::atoll(argv[i]));
  const torch::Tensor tokens = torch::tensor(ids, torch::kLong).unsqueeze(0);  // [1, pos]

  torch::NoGradGuard no_grad;
  const torch::Tensor clean = model->forward(tokens)[0][-1];  // [d_vocab] at the last position
  const std::string hook = fmt::format("blocks.{}.attn.hook_z", layer);
  auto zero_head = [head](const torch::Tensor& z, const mechlens::HookPointImpl&) {  // z: [batch, pos, head, d_head]
    torch::Tensor out = z.clone();
    out.select(2, head).zero_();
    return out;
  };
  const torch::Tensor ablated = model->run_with_hooks(tokens, {{hook, zero_head}})[0][-1];
  const int64_t answer = clean.argmax().item<int64_t>();
  fmt::print("clean prediction {} (logit {:.3f}); with L{}H{} zeroed: prediction {}, logit of {} now {:.3f}\n", answer,
             clean[answer].item<double>(), layer, head, ablated.argmax().item<int64_t>(), answer,
             ablated[answer].item<double>());
  return 0;
}
