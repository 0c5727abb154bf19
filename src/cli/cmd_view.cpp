// `mechlens view FILE.h5 --out page.html`: one self-contained HTML page (no network, file:// safe).
#include <fmt/format.h>

#include "cli/command.h"
#include "cli/options.h"
#include "util/output_file.h"
#include "view/view.h"

namespace mechlens::cli {

int run_view(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("input", po::value<std::string>()->required(), "a mechlens record (attention patterns) or patching result (.h5)")
      ("out", po::value<std::string>()->required(), "HTML page to write")
      ("examples", po::value<std::string>()->default_value("0"), "attention: prompts to include, e.g. 0, 0:4, all")
      ("layers", po::value<std::string>()->default_value("all"), "attention: recorded layers to include")
      ("max-mb", po::value<int64_t>()->default_value(256), "refuse pages that would embed more data than this");
  // clang-format on
  po::positional_options_description positional;
  positional.add("input", 1);
  po::variables_map vm;
  if (!parse_options("view", "FILE.h5 --out page.html [--examples 0:4] [--layers all]",
                     "Write a self-contained HTML page for a record's attention patterns (a grid of heads per "
                     "layer and one large map) or for patching results (heatmaps). It opens from file:// with no "
                     "network.",
                     options, positional, args, vm)) {
    return 0;
  }
  const int64_t max_mb = vm["max-mb"].as<int64_t>();
  if (max_mb < 1 || max_mb > 4096) throw UsageError{fmt::format("--max-mb is {}, expected 1..4096", max_mb)};
  ViewRequest request;
  request.input = vm["input"].as<std::string>();
  request.examples = vm["examples"].as<std::string>();
  request.layers = vm["layers"].as<std::string>();
  request.max_bytes = max_mb << 20;
  const std::string out = vm["out"].as<std::string>();
  write_file_atomically(out, render_view(request));
  fmt::print("wrote {}\n", out);
  return 0;
}

}  // namespace mechlens::cli
