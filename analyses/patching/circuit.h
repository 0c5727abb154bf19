// The logic paper's sufficiency test: every attention head outside a circuit (a set of heads, each
// at allowed positions) takes its activation (hook_z) from the corrupted run; the clean prompts'
// metric then shows how much of the clean-vs-corrupted difference the circuit alone carries.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "patching/patching.h"

namespace mechlens {

struct CircuitHead {
  int64_t layer = 0;
  int64_t head = 0;
  std::vector<int64_t> positions;  // absolute; empty: every position
};

struct Circuit {
  /// Named families of heads (e.g. "routing", "retrieval"), in file order.
  std::vector<std::pair<std::string, std::vector<CircuitHead>>> families;
};

/// Reads {"families": {"NAME": [{"layer": 2, "head": 0, "positions": "-5:"}, ...], ...}}; positions
/// take the --positions syntax and default to all. Throws InputError naming the file and the field.
Circuit load_circuit(const std::string& path, const ModelConfig& config, int64_t n_positions);

struct CircuitVariant {
  std::string name;      // "circuit", "without NAME", "no heads"
  double metric = 0;     // batch mean on the clean prompts
  double recovered = 0;  // (metric - corrupted) / (clean - corrupted)
};

struct CircuitReport {
  double clean_metric = 0, corrupted_metric = 0;
  std::vector<CircuitVariant> variants;
};

/// All variants (the full circuit, each family removed, no heads kept) in one batched forward.
CircuitReport check_circuit(PatchingSession& session, const Circuit& circuit);

}  // namespace mechlens
