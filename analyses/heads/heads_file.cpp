#include "heads/heads_file.h"

#include <torch/torch.h>

#include "store/h5_util.h"

namespace mechlens {

void write_heads_file(const std::string& path, const HeadsFileContents& c) {
  write_result_file(path, "mechlens-heads", 1, [&](H5::H5File& file) {
    write_provenance(file, c.provenance);
    H5::Group group = file.createGroup("prompts");
    write_tensor(group, "tokens", c.prompts->tokens, {"batch", "pos"});
    write_tensor(group, "answer_pos", c.prompts->answer_pos, {"batch"});
    write_tensor(group, "correct", c.prompts->correct, {"batch"});
    if (c.prompts->wrong.defined()) write_tensor(group, "wrong", c.prompts->wrong, {"batch"});

    group = file.createGroup("detectors");
    h5::write_strings(group, "label_detector", c.detection->names);
    write_tensor(group, "scores", c.detection->per_prompt, {"detector", "layer", "head", "batch"});
    write_tensor(group, "mean", c.detection->mean, {"detector", "layer", "head"});

    if (c.dla) {
      const LogitAttribution& d = *c.dla;
      group = file.createGroup("dla");
      h5::write_attr(group, "metric", std::string(d.logit_difference ? "logit difference (correct - wrong)" : "logit"));
      write_tensor(group, "head", d.head, {"layer", "head", "batch"});
      write_tensor(group, "head_by_source", d.head_by_source, {"layer", "head", "pos", "batch"});
      write_tensor(group, "mlp", d.mlp, {"layer", "batch"});
      write_tensor(group, "attn_bias", d.attn_bias, {"layer", "batch"});
      write_tensor(group, "embed", d.embed, {"batch"});
      write_tensor(group, "pos_embed", d.pos_embed, {"batch"});
      write_tensor(group, "constant", d.constant, {"batch"});
      write_tensor(group, "metric", d.metric, {"batch"});
    }
    if (c.ablation_per_prompt.defined()) {
      group = file.createGroup("ablation");
      h5::write_attr(group, "ablation", c.ablation);
      h5::write_attr(group, "clean_metric", c.clean_metric);
      write_tensor(group, "metric", c.ablation_per_prompt, {"layer", "head", "batch"});
      write_tensor(group, "drop", c.ablation_drop, {"layer", "head"});
    }
    if (c.lens) {
      const LogitLens& lens = *c.lens;
      group = file.createGroup("logit_lens");
      h5::write_attr(group, "stages",
                     std::string("stage l < n_layers: the residual before layer l; n_layers: after the last"));
      write_tensor(group, "answer_prob", lens.answer_prob, {"stage", "batch"});
      write_tensor(group, "answer_rank", lens.answer_rank, {"stage", "batch"});
      write_tensor(group, "kl_to_final", lens.kl_to_final, {"stage", "batch"});
      write_tensor(group, "top_tokens", lens.top_tokens, {"stage", "batch", "k"});
      write_tensor(group, "top_probs", lens.top_probs, {"stage", "batch", "k"});
    }
    if (c.matching_score.defined()) {
      group = file.createGroup("matching");
      write_tensor(group, "score", c.matching_score, {"layer", "head"});
    }
    if (c.scan) {
      group = file.createGroup("confound_scan");
      h5::write_strings(group, "label_statistic", c.scan_statistics);
      std::vector<int64_t> layers, heads;
      for (const auto& [layer, head] : c.scan_heads) layers.push_back(layer), heads.push_back(head);
      write_tensor(group, "stat_layer", torch::tensor(layers, torch::kLong), {"stat"});
      write_tensor(group, "stat_head", torch::tensor(heads, torch::kLong), {"stat"});
      h5::write_strings(group, "label_variable", c.scan->variables);
      write_tensor(group, "eta2", c.scan->eta2, {"stat", "variable"});
      write_tensor(group, "eta2_given_best", c.scan->eta2_given_best, {"stat", "variable"});
      write_tensor(group, "best", c.scan->best, {"stat"});
    }
    group = file.createGroup("roles");
    h5::write_strings(group, "report_json", {c.report_json});
  });
}

}  // namespace mechlens
