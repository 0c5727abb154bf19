#include "heads/head_detectors.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <limits>

#include "hooks/hook_names.h"
#include "hooks/hook_point.h"
#include "util/error.h"
#include "util/progress.h"

namespace mechlens {
namespace {

torch::Tensor all_rows(const torch::Tensor& tokens) {
  return torch::ones({tokens.size(0), tokens.size(1)}, torch::kBool);
}

// [batch, pos, pos]: 1 where token q equals an earlier token k (q != k).
torch::Tensor duplicates(const torch::Tensor& tokens) {
  const torch::Tensor equal = tokens.unsqueeze(2).eq(tokens.unsqueeze(1)).to(torch::kFloat32);
  return equal.tril(-1);
}

}  // namespace

DetectionMeasure parse_detection_measure(const std::string& text, const std::string& what) {
  if (text == "mul") return DetectionMeasure::kMul;
  if (text == "abs") return DetectionMeasure::kAbs;
  MECHLENS_FAIL(InputError, "{} '{}': expected mul or abs", what, text);
}

DetectionPattern previous_token_pattern(const torch::Tensor& tokens) {
  const int64_t batch = tokens.size(0), n = tokens.size(1);
  const torch::Tensor one = torch::eye(n, torch::kFloat32).roll(1, 0).tril(-1);  // [q, q-1] = 1 for q >= 1
  return {"previous_token", one.unsqueeze(0).expand({batch, n, n}).contiguous(), all_rows(tokens)};
}

DetectionPattern duplicate_token_pattern(const torch::Tensor& tokens) {
  return {"duplicate_token", duplicates(tokens.to(torch::kLong)), all_rows(tokens)};
}

DetectionPattern induction_pattern(const torch::Tensor& tokens) {
  // The duplicate pattern shifted one source to the right (k → k + 1), kept lower triangular.
  const torch::Tensor dup = duplicates(tokens.to(torch::kLong));
  torch::Tensor shifted = torch::zeros_like(dup);
  if (dup.size(2) > 1) shifted.narrow(2, 1, dup.size(2) - 1).copy_(dup.narrow(2, 0, dup.size(2) - 1));
  return {"induction", shifted.tril(), all_rows(tokens)};
}

DetectionPattern bos_pattern(const torch::Tensor& tokens) {
  const int64_t batch = tokens.size(0), n = tokens.size(1);
  torch::Tensor target = torch::zeros({batch, n, n}, torch::kFloat32);
  target.select(2, 0).fill_(1.0f);
  return {"bos", target, all_rows(tokens)};
}

DetectionPattern span_pattern(const std::string& name, const std::vector<std::pair<int64_t, int64_t>>& destinations,
                              const std::vector<std::pair<int64_t, int64_t>>& sources, int64_t n_pos) {
  MECHLENS_CHECK(InputError, destinations.size() == sources.size(),
                 "detector {}: {} destination ranges for {} source ranges", name, destinations.size(), sources.size());
  const int64_t batch = int64_t(destinations.size());
  torch::Tensor target = torch::zeros({batch, n_pos, n_pos}, torch::kFloat32);
  torch::Tensor rows = torch::zeros({batch, n_pos}, torch::kBool);
  auto t = target.accessor<float, 3>();
  auto r = rows.accessor<bool, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    const auto [d0, d1] = destinations[size_t(b)];
    const auto [s0, s1] = sources[size_t(b)];
    MECHLENS_CHECK(InputError, 0 <= d0 && d0 <= d1 && d1 <= n_pos && 0 <= s0 && s0 <= s1 && s1 <= n_pos,
                   "detector {}: prompt {} has destinations [{}, {}) or sources [{}, {}) outside its {} positions",
                   name, b, d0, d1, s0, s1, n_pos);
    for (int64_t q = d0; q < d1; ++q) {
      r[b][q] = true;
      for (int64_t k = s0; k < std::min(s1, q + 1); ++k) t[b][q][k] = 1.0f;
    }
  }
  return {name, target, rows};
}

HeadDetection detect_heads(HookedTransformer& model, const torch::Tensor& tokens,
                           const std::vector<DetectionPattern>& patterns, const DetectorOptions& options) {
  const ModelConfig& config = model->config();
  MECHLENS_CHECK(InputError, tokens.dim() == 2 && tokens.size(0) > 0 && tokens.size(1) > 0,
                 "head detection needs tokens [batch, pos], got {} dimensions", tokens.dim());
  MECHLENS_CHECK(InputError, options.max_batch >= 1, "head detection: batch size {} must be >= 1", options.max_batch);
  const int64_t batch = tokens.size(0), n_pos = tokens.size(1), n_det = int64_t(patterns.size());
  for (const DetectionPattern& p : patterns) {
    MECHLENS_CHECK(InputError,
                   p.target.dim() == 3 && p.target.size(0) == batch && p.target.size(1) == n_pos &&
                       p.target.size(2) == n_pos && p.rows.dim() == 2 && p.rows.size(0) == batch &&
                       p.rows.size(1) == n_pos,
                   "detector {}: its pattern is not [batch, pos, pos] = [{}, {}, {}] with rows [batch, pos]", p.name,
                   batch, n_pos, n_pos);
  }
  HeadDetection out;
  for (const DetectionPattern& p : patterns) out.names.push_back(p.name);
  out.per_prompt =
      torch::full({n_det, config.n_layers, config.n_heads, batch}, std::numeric_limits<float>::quiet_NaN());
  // What the exclusions remove from every pattern: column 0, the diagonal. [pos, pos]
  torch::Tensor keep = torch::ones({n_pos, n_pos});
  if (options.exclude_bos) keep.select(1, 0).zero_();
  if (options.exclude_current_token) keep.fill_diagonal_(0.0);
  const torch::Device device = model->parameters().empty() ? torch::kCPU : model->parameters()[0].device();
  keep = keep.to(device);

  ProgressBar progress("detect heads", batch, options.progress);
  torch::NoGradGuard no_grad;
  for (int64_t start = 0; start < batch; start += options.max_batch) {
    const int64_t count = std::min(options.max_batch, batch - start);
    // Per detector: target [b, q·k], rows [b, q] as floats, and the number of rows per prompt.
    std::vector<torch::Tensor> targets, rows;
    for (const DetectionPattern& p : patterns) {
      const torch::Tensor r = p.rows.narrow(0, start, count).to(device, torch::kFloat32);
      targets.push_back((p.target.narrow(0, start, count).to(device) * r.unsqueeze(2)).contiguous());
      rows.push_back(r);
    }
    HookScope scope;
    for (int64_t layer = 0; layer < config.n_layers; ++layer) {
      scope.add(model->hook_point(layer_hook_name(layer, "attn.hook_pattern")),
                [&, layer, start, count](const torch::Tensor& pattern, const HookPointImpl&) {
                  // pattern [b, head, q, k]
                  const torch::Tensor kept = pattern * keep;
                  for (int64_t d = 0; d < n_det; ++d) {
                    const torch::Tensor row_mask = rows[size_t(d)].unsqueeze(1).unsqueeze(3);  // [b, 1, q, 1]
                    const torch::Tensor n_rows = rows[size_t(d)].sum(1);                       // [b]
                    torch::Tensor score;
                    if (options.measure == DetectionMeasure::kMul) {
                      const torch::Tensor hit = (kept * targets[size_t(d)].unsqueeze(1)).sum({2, 3});  // [b, head]
                      score = hit / (kept * row_mask).sum({2, 3});
                    } else {
                      const torch::Tensor diff = (pattern - targets[size_t(d)].unsqueeze(1)).abs() * keep * row_mask;
                      score = 1.0 - diff.sum({2, 3}) / n_rows.unsqueeze(1);
                    }
                    // A prompt without rows has no score (NaN), not 0.
                    score = score.masked_fill(n_rows.eq(0).unsqueeze(1), std::numeric_limits<float>::quiet_NaN());
                    out.per_prompt[d][layer].narrow(1, start, count).copy_(score.transpose(0, 1).to(torch::kCPU));
                  }
                  return torch::Tensor();
                });
    }
    model->forward(tokens.narrow(0, start, count).to(device));
    progress.advance(count);
  }
  progress.finish();
  out.mean = out.per_prompt.nanmean(3);
  return out;
}

}  // namespace mechlens
