// TransformerLens hook-name helpers: shorthand expansion and "did you mean" suggestions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens {

/// Expands TransformerLens shorthand: act_name("pattern", 3) -> "blocks.3.attn.hook_pattern",
/// act_name("resid_pre", 0) -> "blocks.0.hook_resid_pre", act_name("embed") -> "hook_embed".
/// Names that already look like full hook names are returned unchanged.
std::string act_name(const std::string& short_name, int64_t layer = -1);

/// "blocks.<layer>.<suffix>", e.g. layer_hook_name(2, "attn.hook_z"): a per-layer hook by its suffix.
std::string layer_hook_name(int64_t layer, const std::string& suffix);

/// Index of a hook's query-position dimension ("pos", or "dest" for attention patterns), or -1.
int64_t position_dim(const std::vector<std::string>& dims);

/// Up to `max_count` names from `candidates` closest to `name` by edit distance.
std::vector<std::string> closest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       size_t max_count = 3);

}  // namespace mechlens
