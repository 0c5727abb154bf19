// Figures as SVG for papers (`mechlens plot`): one head's attention map, a grid of every recorded
// head, or a patching heatmap, each with a title, axis labels (token strings with positions), and a
// colour bar. One <rect> per cell, so every value can be read back from the file.
#pragma once

#include <cstdint>
#include <string>

namespace mechlens {

enum class PlotKind { kAttention, kHeadGrid, kPatching };
PlotKind parse_plot_kind(const std::string& text);  // attention | heads | patching

struct PlotRequest {
  std::string input;
  PlotKind kind = PlotKind::kAttention;
  int64_t example = 0;            // attention, heads: the record's prompt
  int64_t layer = 0, head = 0;    // attention: which map (layer: recorded layer number)
  std::string component;          // patching: the result group (default: the first)
  int64_t slice = -1;             // patching, 3-D results: index along the last axis (-1: strongest)
  int64_t max_cells = 2'000'000;  // refuse figures with more cells (an SVG that big is not readable)
};

/// The SVG text. Throws InputError naming the file and what was expected.
std::string render_svg(const PlotRequest& request);

}  // namespace mechlens
