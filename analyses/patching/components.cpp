#include "patching/components.h"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include <map>

#include "util/error.h"

namespace mechlens {
namespace {

struct KindInfo {
  const char* name;
  const char* hook;
};

const std::map<ActKind, KindInfo>& kind_table() {
  static const std::map<ActKind, KindInfo> table{
      {ActKind::kResidPre, {"resid_pre", "hook_resid_pre"}},
      {ActKind::kResidMid, {"resid_mid", "hook_resid_mid"}},
      {ActKind::kResidPost, {"resid_post", "hook_resid_post"}},
      {ActKind::kAttnOut, {"attn_out", "hook_attn_out"}},
      {ActKind::kMlpOut, {"mlp_out", "hook_mlp_out"}},
      {ActKind::kZ, {"head_z", "attn.hook_z"}},
      {ActKind::kQ, {"head_q", "attn.hook_q"}},
      {ActKind::kK, {"head_k", "attn.hook_k"}},
      {ActKind::kV, {"head_v", "attn.hook_v"}},
      {ActKind::kPattern, {"head_pattern", "attn.hook_pattern"}},
  };
  return table;
}

}  // namespace

torch::Tensor replace_packed(const torch::Tensor& act, int64_t runs, int64_t batch, const torch::Tensor& mask,
                             const torch::Tensor& replacement) {
  std::vector<int64_t> shape{runs, batch};
  shape.insert(shape.end(), act.sizes().begin() + 1, act.sizes().end());
  return torch::where(mask, replacement, act.reshape(shape)).reshape(act.sizes());
}

std::string Component::name() const { return std::string(kind_table().at(kind).name) + (all_positions ? "_all" : ""); }

std::string Component::hook_suffix() const { return kind_table().at(kind).hook; }

int64_t Component::n_heads(const ModelConfig& config) const {
  return kind == ActKind::kK || kind == ActKind::kV ? config.kv_heads() : config.n_heads;
}

std::vector<std::string> Component::dims(const ModelConfig& config) const {
  if (!is_head()) return {"layer", "pos"};
  const std::string head = n_heads(config) != config.n_heads ? "kv_head" : "head";
  if (all_positions) return {"layer", head};
  if (is_pattern()) return {"layer", head, "dest"};
  return {"layer", "pos", head};
}

std::string component_names() {
  std::string names;
  for (const auto& [kind, info] : kind_table()) {
    names += std::string(names.empty() ? "" : ", ") + info.name;
    if (kind >= ActKind::kZ) names += std::string(", ") + info.name + "_all";
  }
  return names + ", blocks, heads_all";
}

std::vector<Component> parse_components(const std::string& text, const ModelConfig& config) {
  // "resid_pre,head_z_all": each part on its own, in order, each component once.
  if (text.find(',') != std::string::npos) {
    std::vector<Component> all;
    std::stringstream parts(text);
    for (std::string part; std::getline(parts, part, ',');) {
      for (const Component& component : parse_components(part, config)) {
        const bool seen =
            std::any_of(all.begin(), all.end(), [&](const Component& c) { return c.name() == component.name(); });
        if (!seen) all.push_back(component);
      }
    }
    return all;
  }
  std::vector<Component> components;
  if (text == "blocks") {
    components = {{ActKind::kResidPre, false}, {ActKind::kAttnOut, false}, {ActKind::kMlpOut, false}};
  } else if (text == "heads_all") {
    for (ActKind kind : {ActKind::kZ, ActKind::kQ, ActKind::kK, ActKind::kV, ActKind::kPattern}) {
      components.push_back({kind, true});
    }
  } else {
    for (const auto& [kind, info] : kind_table()) {
      if (text == info.name) components.push_back({kind, false});
      if (kind >= ActKind::kZ && text == std::string(info.name) + "_all") components.push_back({kind, true});
    }
  }
  MECHLENS_CHECK(InputError, !components.empty(), "unknown component '{}'; expected one of: {}", text,
                 component_names());
  for (const Component& component : components) {
    const bool needs_mlp = component.kind == ActKind::kResidMid || component.kind == ActKind::kMlpOut;
    MECHLENS_CHECK(InputError, !(needs_mlp && config.attn_only()),
                   "component '{}' needs an MLP, but the model is attention-only", component.name());
  }
  return components;
}

}  // namespace mechlens
