// Patching results on disk (HDF5, readable with h5py; layout in docs/PATCHING.md) and as JSON.
// Files are written to PATH.partial and renamed when complete, so a failed run leaves nothing
// that looks finished.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "patching/circuit.h"
#include "patching/grouped.h"
#include "patching/patching.h"
#include "store/result_file.h"

namespace mechlens {

/// One sweep with its optional attribution estimate (same shape), and its split by a per-prompt
/// annotation when one was asked for.
struct PatchRecord {
  PatchResult exact;
  std::optional<PatchResult> attribution;
  double attribution_correlation = 0;  // Pearson r of the normalised scores
  std::optional<GroupedPatchResult> grouped;
};

/// Everything a patch file holds besides the sweeps: the prompts and their per-prompt metrics, the
/// task's annotations when the prompts came from a task (token strings go with the Provenance).
struct PatchFileContents {
  PatchingInputs inputs;
  torch::Tensor clean_per_prompt, corrupted_per_prompt;            // [batch]
  std::vector<std::pair<std::string, torch::Tensor>> annotations;  // name -> [batch, ...]
  std::map<std::string, std::vector<std::string>> annotation_dims;
  std::vector<std::string> prompt_groups;  // [batch]: the task's data group of each prompt, if any
};

using PatchProvenance = Provenance;

/// The patch file layout's version (root attribute format_version, an integer as in records).
inline constexpr int64_t kPatchFormatVersion = 1;

void write_patch_file(const std::string& path, const PatchFileContents& contents,
                      const std::vector<PatchRecord>& records, const std::optional<CircuitReport>& circuit,
                      const PatchProvenance& provenance);

std::string patch_json(const std::vector<PatchRecord>& records, const std::optional<CircuitReport>& circuit);

/// "layer 2, pos 37, head 0" for the flat index of a result.
std::string describe_index(const PatchResult& result, int64_t flat);

/// The `top` entries with the largest |normalised score|, one per line.
std::string top_components(const PatchResult& result, int64_t top);

/// The same top entries' normalised score per group, with the spread over each group's prompts.
std::string top_components_by_group(const PatchResult& result, const GroupedPatchResult& grouped, int64_t top);

}  // namespace mechlens
