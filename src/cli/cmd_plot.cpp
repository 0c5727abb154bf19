// `mechlens plot FILE.h5 --out fig.svg`: an attention map, a head grid or a patching heatmap as SVG.
#include <fmt/format.h>

#include "cli/command.h"
#include "cli/options.h"
#include "util/output_file.h"
#include "view/svg.h"

namespace mechlens::cli {

int run_plot(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("input", po::value<std::string>()->required(), "a mechlens record (attention patterns) or patching result (.h5)")
      ("out", po::value<std::string>()->required(), "SVG file to write")
      ("kind", po::value<std::string>()->default_value("attention"), "attention (one head), heads (every recorded head) or patching")
      ("example", po::value<int64_t>()->default_value(0), "attention, heads: the record's prompt")
      ("layer", po::value<int64_t>()->default_value(0), "attention: the layer")
      ("head", po::value<int64_t>()->default_value(0), "attention: the head")
      ("component", po::value<std::string>(), "patching: the result to draw (default: the first)")
      ("slice", po::value<int64_t>()->default_value(-1), "patching, 3-D results: index along the last axis (default: the strongest)")
      ("max-cells", po::value<int64_t>()->default_value(2'000'000), "refuse figures with more cells");
  // clang-format on
  po::positional_options_description positional;
  positional.add("input", 1);
  po::variables_map vm;
  if (!parse_options("plot", "FILE.h5 --out fig.svg [--kind attention|heads|patching] [options]",
                     "Draw a figure as SVG: one head's attention map with token labels, every recorded head of a "
                     "prompt, or a patching heatmap; each with a title and a colour bar.",
                     options, positional, args, vm)) {
    return 0;
  }
  PlotRequest request;
  request.input = vm["input"].as<std::string>();
  request.kind = parse_plot_kind(vm["kind"].as<std::string>());
  request.example = vm["example"].as<int64_t>();
  request.layer = vm["layer"].as<int64_t>();
  request.head = vm["head"].as<int64_t>();
  if (vm.count("component")) request.component = vm["component"].as<std::string>();
  request.slice = vm["slice"].as<int64_t>();
  request.max_cells = vm["max-cells"].as<int64_t>();
  const bool patching = request.kind == PlotKind::kPatching;
  for (const char* option : {"example", "layer", "head"}) {
    if (patching && !vm[option].defaulted()) throw UsageError{fmt::format("--{} applies to attention figures", option)};
  }
  if (!patching && (vm.count("component") || !vm["slice"].defaulted())) {
    throw UsageError{"--component and --slice apply to --kind patching"};
  }
  const std::string out = vm["out"].as<std::string>();
  write_file_atomically(out, render_svg(request));
  fmt::print("wrote {}\n", out);
  return 0;
}

}  // namespace mechlens::cli
