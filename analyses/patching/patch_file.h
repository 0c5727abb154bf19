// Patching results on disk (HDF5, readable with h5py; layout in docs/PATCHING.md) and as JSON.
// Files are written to PATH.partial and renamed when complete, so a failed run leaves nothing
// that looks finished.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "patching/circuit.h"
#include "patching/patching.h"
#include "store/result_file.h"

namespace mechlens {

/// One sweep with its optional attribution estimate (same shape).
struct PatchRecord {
  PatchResult exact;
  std::optional<PatchResult> attribution;
  double attribution_correlation = 0;  // Pearson r of the normalised scores
};

using PatchProvenance = Provenance;

/// The patch file layout's version (root attribute format_version, an integer as in records).
inline constexpr int64_t kPatchFormatVersion = 1;

void write_patch_file(const std::string& path, const PatchingInputs& inputs, const std::vector<PatchRecord>& records,
                      const std::optional<CircuitReport>& circuit, const PatchProvenance& provenance);

std::string patch_json(const std::vector<PatchRecord>& records, const std::optional<CircuitReport>& circuit);

/// "layer 2, pos 37, head 0" for the flat index of a result.
std::string describe_index(const PatchResult& result, int64_t flat);

/// The `top` entries with the largest |normalised score|, one per line.
std::string top_components(const PatchResult& result, int64_t top);

}  // namespace mechlens
