#include "heads/logit_attribution.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <map>

#include "engine/activations_at.h"
#include "hooks/hook_names.h"
#include "hooks/hook_point.h"
#include "util/error.h"
#include "util/progress.h"

namespace mechlens {
namespace {

using Parameters = torch::OrderedDict<std::string, torch::Tensor>;

// The parameter called `name`; undefined where the model has none (no bias, tied unembedding).
torch::Tensor parameter(const Parameters& params, const std::string& name) {
  const torch::Tensor* found = params.find(name);
  return found ? *found : torch::Tensor();
}

// Rows [b, answer_pos[b]] of an activation [batch, pos, ...].
torch::Tensor answer_rows(const torch::Tensor& activation, const torch::Tensor& answer_pos) {
  const torch::Tensor rows = torch::arange(activation.size(0), answer_pos.options());
  return activation.index({rows, answer_pos});
}

}  // namespace

LogitAttribution direct_logit_attribution(HookedTransformer& model, const AnswerPrompts& prompts, int64_t max_batch,
                                          bool progress) {
  const ModelConfig& config = model->config();
  validate_answer_prompts(prompts, config);
  model->check_tokens(prompts.tokens);
  MECHLENS_CHECK(InputError,
                 config.norm_placement == NormPlacement::kPre || config.normalization_type == NormType::kNone,
                 "direct logit attribution needs a pre-norm (or norm-free) model: this post-LN model renormalises the "
                 "residual stream in every block, so its heads' outputs do not add up to the logits");
  MECHLENS_CHECK(InputError, config.has_unembed,
                 "direct logit attribution needs an unembedding; this model (an encoder without a head) has none");
  MECHLENS_CHECK(InputError, !config.noise_vo(),
                 "direct logit attribution: this model adds orthogonal VO noise to its heads' outputs, which the "
                 "per-head split does not cover");
  MECHLENS_CHECK(InputError, max_batch >= 1, "direct logit attribution: batch size {} must be >= 1", max_batch);
  const int64_t batch = prompts.batch(), n_pos = prompts.positions(), L = config.n_layers, H = config.n_heads;
  const int64_t group = H / config.kv_heads();  // query heads per key/value head
  const bool has_norm = config.normalization_type != NormType::kNone;
  const bool centred = config.normalization_type == NormType::kLN;

  LogitAttribution out;
  out.logit_difference = prompts.wrong.defined();
  out.embed = torch::zeros({batch});
  out.pos_embed = torch::zeros({batch});
  out.head = torch::zeros({L, H, batch});
  out.head_by_source = torch::zeros({L, H, n_pos, batch});
  out.attn_bias = torch::zeros({L, batch});
  out.mlp = torch::zeros({L, batch});
  out.constant = torch::zeros({batch});
  out.metric = torch::zeros({batch});

  const Parameters params = model->named_parameters();
  // The unembedding [d_model, d_vocab] (tied models use W_E transposed).
  const torch::Tensor W_U = params.contains("unembed.W_U") ? params["unembed.W_U"] : parameter(params, "embed.W_E").t();
  const torch::Tensor b_U = parameter(params, "unembed.b_U");
  const torch::Tensor ln_w = has_norm ? parameter(params, "ln_final.w") : torch::Tensor();
  const torch::Tensor ln_b = has_norm ? parameter(params, "ln_final.b") : torch::Tensor();
  const torch::Device device = W_U.device();

  ProgressBar bar("logit attribution", batch, progress);
  torch::NoGradGuard no_grad;
  for (int64_t start = 0; start < batch; start += max_batch) {
    const int64_t count = std::min(max_batch, batch - start);
    const torch::Tensor answer_pos = prompts.answer_pos.narrow(0, start, count).to(device);
    const torch::Tensor correct = prompts.correct.narrow(0, start, count).to(device);
    // The direction each component is read along: u = W_U[:, correct] (− W_U[:, wrong]), times the
    // final norm's weight, centred where the norm centres. [b, d_model]
    torch::Tensor u = W_U.index_select(1, correct).t();
    torch::Tensor constant = b_U.defined() ? b_U.index_select(0, correct) : torch::zeros({count}, W_U.options());
    if (out.logit_difference) {
      const torch::Tensor wrong = prompts.wrong.narrow(0, start, count).to(device);
      u = u - W_U.index_select(1, wrong).t();
      if (b_U.defined()) constant = constant - b_U.index_select(0, wrong);
    }
    if (ln_b.defined()) constant = constant + u.matmul(ln_b);
    if (ln_w.defined()) u = u * ln_w;
    if (centred) u = u - u.mean(1, /*keepdim=*/true);

    std::map<std::string, torch::Tensor> seen;  // answer rows (or whole v / pattern) of the hooks read
    HookScope scope;
    auto keep_row = [&](const std::string& name) {
      scope.add(model->hook_point(name), [&, name, answer_pos](const torch::Tensor& x, const HookPointImpl&) {
        seen[name] = answer_rows(x, answer_pos);
        return torch::Tensor();
      });
    };
    keep_row("hook_embed");
    if (config.positional_embedding_type == PositionalEmbedding::kStandard) keep_row("hook_pos_embed");
    if (has_norm) keep_row("ln_final.hook_scale");
    for (int64_t l = 0; l < L; ++l) {
      keep_row(layer_hook_name(l, "attn.hook_z"));
      if (config.d_mlp > 0) keep_row(layer_hook_name(l, "hook_mlp_out"));
      for (const char* suffix : {"attn.hook_v", "attn.hook_pattern"}) {
        const std::string name = layer_hook_name(l, suffix);
        scope.add(model->hook_point(name), [&, name](const torch::Tensor& x, const HookPointImpl&) {
          seen[name] = x;
          return torch::Tensor();
        });
      }
    }
    const torch::Tensor logits = model->forward(prompts.tokens.narrow(0, start, count).to(device));
    const torch::Tensor answer_logits = answer_rows(logits, answer_pos);  // [b, d_vocab]
    torch::Tensor metric = answer_logits.gather(1, correct.unsqueeze(1)).squeeze(1);
    if (out.logit_difference) {
      metric =
          metric - answer_logits.gather(1, prompts.wrong.narrow(0, start, count).to(device).unsqueeze(1)).squeeze(1);
    }
    const torch::Tensor scale =
        has_norm ? seen.at("ln_final.hook_scale").reshape({count}) : torch::ones({count}, W_U.options());
    auto read = [&](const torch::Tensor& row) { return (row * u).sum(1) / scale; };  // [b, d_model] -> [b]

    out.embed.narrow(0, start, count).copy_(read(seen.at("hook_embed")));
    if (seen.count("hook_pos_embed")) out.pos_embed.narrow(0, start, count).copy_(read(seen.at("hook_pos_embed")));
    const torch::Tensor rows = torch::arange(count, answer_pos.options());
    for (int64_t l = 0; l < L; ++l) {
      const std::string prefix = "blocks." + std::to_string(l) + ".attn.";
      const torch::Tensor W_O = parameter(params, prefix + "W_O");         // [head, d_head, d_model]
      const torch::Tensor Wu = torch::einsum("hdm,bm->bhd", {W_O, u});     // [b, head, d_head]
      const torch::Tensor z = seen.at(layer_hook_name(l, "attn.hook_z"));  // [b, head, d_head]
      out.head[l].narrow(1, start, count).copy_(((z * Wu).sum(2) / scale.unsqueeze(1)).t());
      // By source: A[b, h, answer, s] · (v[b, s, kv(h)] · W_O[h] u) / scale.
      torch::Tensor v = seen.at(layer_hook_name(l, "attn.hook_v"));  // [b, pos, kv_head, d_head]
      if (group > 1) v = v.repeat_interleave(group, 2);
      const torch::Tensor pattern = seen.at(layer_hook_name(l, "attn.hook_pattern"));                 // [b, head, q, k]
      const torch::Tensor from_answer = pattern.index({rows, torch::indexing::Slice(), answer_pos});  // [b, head, k]
      const torch::Tensor value_read = torch::einsum("bshd,bhd->bhs", {v, Wu});                       // [b, head, k]
      const torch::Tensor by_source = from_answer * value_read / scale.view({count, 1, 1});
      out.head_by_source[l].narrow(2, start, count).copy_(by_source.permute({1, 2, 0}));
      const torch::Tensor b_O = parameter(params, prefix + "b_O");
      if (b_O.defined()) out.attn_bias[l].narrow(0, start, count).copy_(u.matmul(b_O) / scale);
      if (config.d_mlp > 0) out.mlp[l].narrow(0, start, count).copy_(read(seen.at(layer_hook_name(l, "hook_mlp_out"))));
    }
    out.constant.narrow(0, start, count).copy_(constant);
    out.metric.narrow(0, start, count).copy_(metric);
    bar.advance(count);
  }
  bar.finish();
  return out;
}

LogitLens logit_lens(HookedTransformer& model, const AnswerPrompts& prompts, int64_t top_k, int64_t max_batch,
                     bool progress) {
  const ModelConfig& config = model->config();
  validate_answer_prompts(prompts, config);
  model->check_tokens(prompts.tokens);
  MECHLENS_CHECK(InputError, top_k >= 1 && top_k <= config.d_vocab, "logit lens: top-k {} must be 1..{}", top_k,
                 config.d_vocab);
  MECHLENS_CHECK(InputError, max_batch >= 1, "logit lens: batch size {} must be >= 1", max_batch);
  const int64_t batch = prompts.batch(), stages = config.n_layers + 1;
  LogitLens out;
  out.answer_prob = torch::zeros({stages, batch});
  out.answer_rank = torch::zeros({stages, batch}, torch::kLong);
  out.kl_to_final = torch::zeros({stages, batch});
  out.top_tokens = torch::zeros({stages, batch, top_k}, torch::kLong);
  out.top_probs = torch::zeros({stages, batch, top_k});
  // The residual stream at each answer position before every layer and after the last: [stage, batch, d].
  const torch::Tensor resid = torch::stack(
      activations_at(model, prompts.tokens, prompts.answer_pos, residual_stage_hooks(config.n_layers), max_batch));
  ProgressBar bar("logit lens", batch, progress);
  torch::NoGradGuard no_grad;
  for (int64_t start = 0; start < batch; start += max_batch) {
    const int64_t count = std::min(max_batch, batch - start);
    const torch::Tensor correct = prompts.correct.narrow(0, start, count).to(torch::kCPU);
    // Each stage through the final norm (its own scale) and the unembedding: [stage, b, d_vocab].
    const torch::Tensor log_probs = model->logits_from_resid(resid.narrow(1, start, count).to(prompts.tokens.device()))
                                        .log_softmax(-1)
                                        .to(torch::kCPU);
    const torch::Tensor final_log_probs = log_probs[stages - 1];
    const torch::Tensor answer_lp =
        log_probs.gather(2, correct.view({1, count, 1}).expand({stages, count, 1})).squeeze(2);
    out.answer_prob.narrow(1, start, count).copy_(answer_lp.exp());
    out.answer_rank.narrow(1, start, count).copy_(log_probs.gt(answer_lp.unsqueeze(2)).sum(2));
    out.kl_to_final.narrow(1, start, count)
        .copy_((final_log_probs.exp() * (final_log_probs - log_probs)).sum(2).clamp_min(0.0));
    const auto [values, indices] = log_probs.topk(top_k, 2);
    out.top_tokens.narrow(1, start, count).copy_(indices);
    out.top_probs.narrow(1, start, count).copy_(values.exp());
    bar.advance(count);
  }
  bar.finish();
  return out;
}

}  // namespace mechlens
