// `mechlens export FILE.h5 --out-dir DIR`: a record or result file as NumPy/CSV/CircuitsVis/bertviz files.
#include <fmt/format.h>

#include "cli/command.h"
#include "cli/options.h"
#include "export/export.h"
#include "util/error.h"

namespace mechlens::cli {

int run_export(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("input", po::value<std::string>()->required(), "a mechlens record or result file (.h5)")
      ("out-dir", po::value<std::string>()->required(), "folder to write (created; written as DIR.partial, then renamed)")
      ("format", po::value<std::string>()->default_value("npy"), "npy (+ JSON sidecars), csv, circuitsvis or bertviz (attention maps of a record)")
      ("datasets", po::value<std::vector<std::string>>()->multitoken()->composing(), "npy/csv: dataset paths or globs, e.g. '/results/*/normalised' (default: all)")
      ("examples", po::value<std::string>()->default_value("0"), "circuitsvis/bertviz: prompts to export, e.g. 0, 0:5, all")
      ("layers", po::value<std::string>()->default_value("all"), "circuitsvis/bertviz: recorded layers to include")
      ("max-csv-values", po::value<int64_t>()->default_value(1'000'000), "csv: refuse datasets larger than this")
      ("force", po::bool_switch(), "replace an existing --out-dir folder");
  // clang-format on
  po::positional_options_description positional;
  positional.add("input", 1);
  po::variables_map vm;
  if (!parse_options("export", "FILE.h5 --out-dir DIR [--format npy|csv|circuitsvis|bertviz] [options]",
                     "Export a record or an analysis result for plotting: NumPy arrays with JSON sidecars naming "
                     "dimensions, labels and provenance; CSV tables; attention maps as CircuitsVis or bertviz JSON.",
                     options, positional, args, vm)) {
    return 0;
  }
  ExportRequest request;
  request.input = vm["input"].as<std::string>();
  request.out = vm["out-dir"].as<std::string>();
  try {
    request.format = parse_export_format(vm["format"].as<std::string>());
  } catch (const InputError& e) {
    throw UsageError{e.what()};  // an option's value: bad usage (exit 2), as every other option's
  }
  if (vm.count("datasets")) request.datasets = vm["datasets"].as<std::vector<std::string>>();
  request.examples = vm["examples"].as<std::string>();
  request.layers = vm["layers"].as<std::string>();
  request.max_csv_values = vm["max-csv-values"].as<int64_t>();
  request.force = vm["force"].as<bool>();
  const bool attention = request.format == ExportFormat::kCircuitsVis || request.format == ExportFormat::kBertViz;
  if (attention && vm.count("datasets")) throw UsageError{"--datasets applies to npy and csv exports"};
  if (!attention && (!vm["examples"].defaulted() || !vm["layers"].defaulted())) {
    throw UsageError{"--examples and --layers apply to circuitsvis and bertviz exports"};
  }
  const std::vector<std::string> written = export_file(request);
  fmt::print("wrote {} files to {}\n", written.size(), request.out);
  return 0;
}

}  // namespace mechlens::cli
