// `mechlens export`: any mechlens file (a record or an analysis result) to what plotting tools take:
// NumPy .npy per dataset with a JSON sidecar (dimension names, labels, attributes, provenance), CSV
// tables in long form (one row per value, a column per dimension with its labels), and attention
// maps as CircuitsVis `attention_heads` props or bertviz `head_view` input, one JSON per example.
// Files go to OUT.partial/ and the folder is renamed to OUT only when every file is written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens {

enum class ExportFormat { kNpy, kCsv, kCircuitsVis, kBertViz };
ExportFormat parse_export_format(const std::string& text);  // npy | csv | circuitsvis | bertviz

struct ExportRequest {
  std::string input;  // a mechlens .h5
  std::string out;    // the folder to create
  ExportFormat format = ExportFormat::kNpy;
  std::vector<std::string> datasets;   // npy/csv: globs over dataset paths ("/results/*/normalised"); empty: all
  std::string examples = "0";          // attention formats: IndexSpec over the record's prompts
  std::string layers = "all";          // attention formats: IndexSpec over layers
  int64_t max_csv_values = 1'000'000;  // a CSV beyond this many rows is refused (use npy)
  bool force = false;                  // replace an existing OUT
};

/// Writes the export; returns the files written (relative to OUT). Throws StoreError / InputError
/// naming the file, dataset and expectation; nothing is left at OUT on failure.
std::vector<std::string> export_file(const ExportRequest& request);

}  // namespace mechlens
