#include "tracing/span_attention.h"

#include <torch/torch.h>

#include <algorithm>

#include "hooks/hook_names.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/shape_format.h"

namespace mechlens {
namespace {

// [batch, pos] float indicator of each prompt's [begin, end) range.
torch::Tensor indicator(const std::vector<std::pair<int64_t, int64_t>>& ranges, int64_t n_pos) {
  return span_mask(ranges, n_pos).to(torch::kFloat32);
}

}  // namespace

SpanAttention span_attention(HookedTransformer& model, const torch::Tensor& tokens,
                             const SpanAttentionOptions& options) {
  const ModelConfig& config = model->config();
  MECHLENS_CHECK(InputError, tokens.dim() == 2 && tokens.size(0) > 0, "tokens must be [batch, pos], got {}",
                 format_shape(tokens.sizes()));
  model->check_tokens(tokens);
  const int64_t batch = tokens.size(0), n_pos = tokens.size(1);
  MECHLENS_CHECK(InputError, !options.sources.empty(), "span attention needs at least one source span");
  MECHLENS_CHECK(InputError, options.max_batch >= 1, "max_batch must be at least 1, got {}", options.max_batch);
  validate_spans(options.sources, batch, n_pos);

  SpanAttention out;
  out.layers = options.layers;
  if (out.layers.empty()) {
    for (int64_t l = 0; l < config.n_layers; ++l) out.layers.push_back(l);
  }
  for (int64_t layer : out.layers) {
    MECHLENS_CHECK(InputError, layer >= 0 && layer < config.n_layers,
                   "layer {} is out of range: the model has {} layers (0..{})", layer, config.n_layers,
                   config.n_layers - 1);
  }
  // Destination weights [batch, pos]: 1 / count at each prompt's destination positions.
  std::vector<std::pair<int64_t, int64_t>> dest = options.destinations;
  if (dest.empty()) {
    MECHLENS_CHECK(InputError, options.answer_pos.defined() && options.answer_pos.numel() == batch,
                   "give destinations, or answer_pos with one position per prompt ({})", batch);
    torch::Tensor pos = options.answer_pos.to(torch::kCPU, torch::kLong).contiguous();
    for (int64_t b = 0; b < batch; ++b) dest.emplace_back(pos[b].item<int64_t>(), pos[b].item<int64_t>() + 1);
  }
  validate_spans({PositionSpan{"destination", dest}}, batch, n_pos);
  for (int64_t b = 0; b < batch; ++b) {
    MECHLENS_CHECK(InputError, dest[size_t(b)].second > dest[size_t(b)].first,
                   "prompt {} has no destination position (empty range)", b);
  }
  torch::Tensor dest_weight = indicator(dest, n_pos);
  dest_weight = dest_weight / dest_weight.sum(1, /*keepdim=*/true);
  std::vector<torch::Tensor> source_rows;  // per span [batch, pos]
  for (const PositionSpan& span : options.sources) {
    out.source_names.push_back(span.name);
    source_rows.push_back(indicator(span.per_prompt, n_pos));
  }
  torch::Tensor region;  // [batch, pos]
  if (options.region.per_prompt.empty()) {
    out.region_name = "the union of the source spans";
    region = std::get<0>(torch::stack(source_rows).max(0));
  } else {
    validate_spans({options.region}, batch, n_pos);
    out.region_name = options.region.name;
    region = indicator(options.region.per_prompt, n_pos);
  }
  source_rows.push_back(region);
  const torch::Device device = tokens.device();
  const torch::Tensor sources = torch::stack(source_rows, 1).to(device);  // [batch, span + 1, pos]
  dest_weight = dest_weight.to(device);

  const int64_t n_layers = int64_t(out.layers.size()), n_spans = int64_t(options.sources.size());
  torch::Tensor mass = torch::zeros({n_layers, config.n_heads, n_spans + 1, batch});
  const int64_t last_layer = *std::max_element(out.layers.begin(), out.layers.end());
  ProgressBar progress("span attention", batch, options.progress);
  torch::NoGradGuard no_grad;
  for (int64_t start = 0; start < batch; start += options.max_batch) {
    const int64_t count = std::min(options.max_batch, batch - start);
    const torch::Tensor chunk_dest = dest_weight.narrow(0, start, count);
    const torch::Tensor chunk_sources = sources.narrow(0, start, count);
    HookScope scope;
    for (int64_t i = 0; i < n_layers; ++i) {
      const std::string name = layer_hook_name(out.layers[size_t(i)], "attn.hook_pattern");
      scope.add(model->hook_point(name), [&, i, start, count](const torch::Tensor& pattern, const HookPointImpl&) {
        // pattern [b, head, dest, src] -> mass [head, span, b]
        torch::Tensor from_dest = torch::einsum("bd,bhds->bhs", {chunk_dest, pattern});
        mass[i]
            .narrow(2, start, count)
            .copy_(torch::einsum("bhs,bks->hkb", {from_dest, chunk_sources}).to(torch::kCPU));
        return torch::Tensor();
      });
    }
    ForwardOptions forward;
    forward.stop_at_layer = last_layer + 1;  // later layers are not needed
    model->forward(tokens.narrow(0, start, count), forward);
    progress.advance(count);
  }
  progress.finish();
  out.mass = mass.narrow(2, 0, n_spans).contiguous();
  const torch::Tensor region_mass = mass.narrow(2, n_spans, 1);  // [layer, head, 1, batch]
  out.share = torch::where(region_mass > 0, out.mass / region_mass.clamp_min(1e-30), torch::zeros_like(out.mass));
  return out;
}

}  // namespace mechlens
