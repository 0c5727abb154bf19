// Byte-pair merging by rank, shared by the BPE tokenizers: the adjacent pair of lowest rank is merged
// everywhere it occurs (left to right), until no adjacent pair has a rank.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace mechlens {

/// ranks: "left right" -> rank (the merges file's line order).
std::vector<std::string> merge_by_rank(std::vector<std::string> symbols,
                                       const std::unordered_map<std::string, int64_t>& ranks);

/// A merges entry of tokenizer.json, "a b" or ["a", "b"] (tokenizers >= 0.20), as "a b"; throws
/// InputError naming `source` and the entry's index otherwise.
std::string merge_key(const nlohmann::json& entry, const std::string& source, size_t index);

}  // namespace mechlens
