#include "hook_names.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "util/edit_distance.h"
#include "util/error.h"

namespace mechlens {
namespace {

// Short name -> path inside blocks.{layer} (TransformerLens utils.get_act_name).
const std::map<std::string, std::string>& block_short_names() {
  static const std::map<std::string, std::string> kNames = {
      {"resid_pre", "hook_resid_pre"},
      {"resid_mid", "hook_resid_mid"},
      {"resid_post", "hook_resid_post"},
      {"attn_out", "hook_attn_out"},
      {"mlp_out", "hook_mlp_out"},
      {"q", "attn.hook_q"},
      {"k", "attn.hook_k"},
      {"v", "attn.hook_v"},
      {"z", "attn.hook_z"},
      {"rot_q", "attn.hook_rot_q"},
      {"rot_k", "attn.hook_rot_k"},
      {"attn_scores", "attn.hook_attn_scores"},
      {"scores", "attn.hook_attn_scores"},
      {"pattern", "attn.hook_pattern"},
      {"attn", "attn.hook_pattern"},
      {"result", "attn.hook_result"},
      {"pre", "mlp.hook_pre"},
      {"pre_linear", "mlp.hook_pre_linear"},
      {"post", "mlp.hook_post"},
      {"scale1", "ln1.hook_scale"},
      {"normalized1", "ln1.hook_normalized"},
      {"scale2", "ln2.hook_scale"},
      {"normalized2", "ln2.hook_normalized"},
  };
  return kNames;
}

}  // namespace

std::string act_name(const std::string& short_name, int64_t layer) {
  if (short_name.rfind("hook_", 0) == 0 || short_name.rfind("blocks.", 0) == 0 ||
      short_name.find(".hook_") != std::string::npos) {
    return short_name;
  }
  if (short_name == "embed" || short_name == "pos_embed") return "hook_" + short_name;
  if (short_name == "scale" || short_name == "normalized") {
    return layer < 0 ? "ln_final.hook_" + short_name : fmt::format("blocks.{}.ln1.hook_{}", layer, short_name);
  }
  const auto& names = block_short_names();
  const auto it = names.find(short_name);
  MECHLENS_CHECK(HookError, it != names.end(), "unknown hook shorthand '{}'", short_name);
  MECHLENS_CHECK(HookError, layer >= 0, "hook shorthand '{}' needs a layer", short_name);
  return fmt::format("blocks.{}.{}", layer, it->second);
}

int64_t position_dim(const std::vector<std::string>& dims) {
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == "pos" || dims[i] == "dest") return static_cast<int64_t>(i);
  }
  return -1;
}

std::vector<std::string> closest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       size_t max_count) {
  std::vector<std::pair<size_t, std::string>> scored;
  scored.reserve(candidates.size());
  for (const auto& candidate : candidates) scored.emplace_back(edit_distance(name, candidate), candidate);
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> result;
  for (size_t i = 0; i < scored.size() && i < max_count; ++i) result.push_back(scored[i].second);
  return result;
}

std::string layer_hook_name(int64_t layer, const std::string& suffix) {
  return "blocks." + std::to_string(layer) + "." + suffix;
}

}  // namespace mechlens
