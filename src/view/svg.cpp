#include "view/svg.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "export/attention_maps.h"
#include "store/result_reader.h"
#include "util/error.h"

namespace mechlens {
namespace {

using Rgb = std::array<int, 3>;

// The page's colour maps (viewer.html): white to dark blue; ColorBrewer RdBu around 0.
Rgb sequential(double v) {
  const double t = std::clamp(v, 0.0, 1.0);
  return {int(std::lround(255 - 247 * t)), int(std::lround(255 - 207 * t)), int(std::lround(255 - 148 * t))};
}
Rgb diverging(double v, double scale) {
  static const Rgb kStops[] = {{178, 24, 43},   {239, 138, 98},  {253, 219, 199}, {247, 247, 247},
                               {209, 229, 240}, {103, 169, 207}, {33, 102, 172}};
  const double t = scale > 0 ? std::clamp(v / scale, -1.0, 1.0) : 0.0;
  const double x = (t + 1) / 2 * 6;
  const int i = std::min(5, int(std::floor(x)));
  const double f = x - i;
  Rgb out{};
  for (int k = 0; k < 3; ++k)
    out[size_t(k)] = int(std::lround(kStops[i][size_t(k)] + (kStops[i + 1][size_t(k)] - kStops[i][size_t(k)]) * f));
  return out;
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

struct Matrix {
  torch::Tensor values;  // [rows, cols] float64
  std::vector<std::string> row_labels, col_labels;
  bool mask_upper = false;  // causal maps: the upper triangle is blank
};

// One heatmap at (x, y) with `cell`-pixel cells; class "cell" rects carry their value.
std::string heatmap(const Matrix& m, double x, double y, double cell, bool divergent, double scale, bool labels) {
  std::string out;
  const int64_t rows = m.values.size(0), cols = m.values.size(1);
  const auto values = m.values.accessor<double, 2>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      if (m.mask_upper && c > r) continue;
      const double v = values[r][c];
      const Rgb rgb = divergent ? diverging(v, scale) : sequential(v);
      out += fmt::format(
          R"svg(<rect class="cell" x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" fill="rgb({},{},{})" data-value="{:.6g}"/>)svg",
          x + double(c) * cell, y + double(r) * cell, cell, cell, rgb[0], rgb[1], rgb[2], v);
      out += '\n';
    }
  }
  if (!labels) return out;
  const double font = std::clamp(cell * 0.8, 6.0, 11.0);
  for (int64_t r = 0; r < rows; ++r) {
    out +=
        fmt::format(R"svg(<text class="label" x="{:.2f}" y="{:.2f}" font-size="{:.1f}" text-anchor="end">{}</text>)svg",
                    x - 4, y + (double(r) + 0.75) * cell, font, escape(m.row_labels[size_t(r)]));
    out += '\n';
  }
  for (int64_t c = 0; c < cols; ++c) {
    const double cx = x + (double(c) + 0.7) * cell, cy = y - 4;
    out += fmt::format(
        R"svg(<text class="label" x="{:.2f}" y="{:.2f}" font-size="{:.1f}" transform="rotate(-90 {:.2f} {:.2f})">{}</text>)svg",
        cx, cy, font, cx, cy, escape(m.col_labels[size_t(c)]));
    out += '\n';
  }
  return out;
}

std::string colour_bar(double x, double y, double height, bool divergent, double scale) {
  std::string out;
  const int steps = 64;
  for (int i = 0; i < steps; ++i) {
    const double t = 1.0 - double(i) / (steps - 1);  // top = maximum
    const Rgb rgb = divergent ? diverging(scale * (2 * t - 1), scale) : sequential(t);
    out += fmt::format(R"svg(<rect x="{:.2f}" y="{:.2f}" width="12" height="{:.3f}" fill="rgb({},{},{})"/>)svg", x,
                       y + height * i / steps, height / steps + 0.3, rgb[0], rgb[1], rgb[2]);
  }
  const double top = divergent ? scale : 1.0, bottom = divergent ? -scale : 0.0;
  out += fmt::format(
      R"svg(<text x="{:.2f}" y="{:.2f}" font-size="10">{:+.3g}</text><text x="{:.2f}" y="{:.2f}" font-size="10">{:+.3g}</text>)svg",
      x + 16, y + 9, top, x + 16, y + height, bottom);
  return out + "\n";
}

std::string document(double width, double height, const std::string& title, const std::string& body) {
  return fmt::format(
      R"svg(<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{:.0f}" height="{:.0f}" viewBox="0 0 {:.0f} {:.0f}" font-family="DejaVu Sans, Helvetica, sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text class="title" x="10" y="20" font-size="14" font-weight="bold">{}</text>
{}</svg>
)svg",
      width, height, width, height, escape(title), body);
}

void check_cells(const PlotRequest& request, double cells) {
  MECHLENS_CHECK(InputError, cells <= double(request.max_cells),
                 "{}: the figure would draw {:.0f} cells, more than --max-cells {}; plot one head (--kind attention) "
                 "or fewer layers",
                 request.input, cells, request.max_cells);
}

std::vector<std::string> position_labels(const std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  for (size_t i = 0; i < tokens.size(); ++i) out.push_back(fmt::format("{} {}", i, tokens[i]));
  return out;
}

std::string attention_svg(const ResultReader& reader, const PlotRequest& request) {
  const AttentionMaps maps(reader);
  MECHLENS_CHECK(InputError, request.example >= 0 && request.example < maps.n_prompts(),
                 "--example {} is outside the record's {} prompts", request.example, maps.n_prompts());
  const std::vector<std::string> tokens = maps.tokens(request.example);
  const double n = double(tokens.size());
  if (request.kind == PlotKind::kAttention) {
    const auto found = std::find(maps.layers().begin(), maps.layers().end(), request.layer);
    MECHLENS_CHECK(InputError, found != maps.layers().end(), "--layer {}: the record holds patterns of layers {}",
                   request.layer, fmt::join(maps.layers(), ", "));
    const torch::Tensor pattern = maps.pattern(found - maps.layers().begin(), request.example);  // [head, n, n]
    MECHLENS_CHECK(InputError, request.head >= 0 && request.head < pattern.size(0),
                   "--head {} is outside the {} recorded heads", request.head, pattern.size(0));
    check_cells(request, n * n);
    Matrix m{pattern[request.head].to(torch::kFloat64).contiguous(), position_labels(tokens), position_labels(tokens),
             true};
    const double cell = std::clamp(640.0 / n, 4.0, 22.0), margin = 120;
    const std::string body = heatmap(m, margin, margin, cell, false, 1.0, true) +
                             colour_bar(margin + n * cell + 16, margin, n * cell, false, 1.0) +
                             fmt::format(R"svg(<text x="{:.0f}" y="{:.0f}" font-size="11">source position</text>)svg",
                                         margin, margin + n * cell + 18) +
                             "\n";
    return document(margin + n * cell + 80, margin + n * cell + 30,
                    fmt::format("{} — prompt {}, destination rows x source columns",
                                maps.head_name(request.layer, request.head), request.example),
                    body);
  }
  // Every recorded head: layers down, heads across; small maps without token labels.
  const int64_t layers = int64_t(maps.layers().size());
  const int64_t heads = maps.pattern(0, request.example).size(0);
  check_cells(request, double(layers * heads) * n * n / 2);
  const double cell = std::max(0.5, 72.0 / n), size = cell * n, gap = 8, left = 70, top = 50;
  std::string body;
  for (int64_t l = 0; l < layers; ++l) {
    const torch::Tensor pattern = maps.pattern(l, request.example).to(torch::kFloat64);
    body += fmt::format(
                R"svg(<text class="label" x="{:.1f}" y="{:.1f}" font-size="11" text-anchor="end">layer {}</text>)svg",
                left - 6, top + double(l) * (size + gap) + size / 2, maps.layers()[size_t(l)]) +
            "\n";
    for (int64_t h = 0; h < heads; ++h) {
      Matrix m{pattern[h].contiguous(), {}, {}, true};
      body += heatmap(m, left + double(h) * (size + gap), top + double(l) * (size + gap), cell, false, 1.0, false);
      if (l == 0) {
        body +=
            fmt::format(
                R"svg(<text class="label" x="{:.1f}" y="{:.1f}" font-size="11" text-anchor="middle">head {}</text>)svg",
                left + double(h) * (size + gap) + size / 2, top - 6, h) +
            "\n";
      }
    }
  }
  body += colour_bar(left + double(heads) * (size + gap) + 8, top, double(layers) * (size + gap) - gap, false, 1.0);
  return document(
      left + double(heads) * (size + gap) + 70, top + double(layers) * (size + gap) + 10,
      fmt::format("Attention of every recorded head — prompt {} ({} tokens)", request.example, tokens.size()), body);
}

std::string patching_svg(const ResultReader& reader, const PlotRequest& request) {
  const std::vector<std::string> components = reader.groups("/results");
  MECHLENS_CHECK(InputError, !components.empty(), "{}: /results holds no sweeps", reader.path());
  const std::string component = request.component.empty() ? components.front() : request.component;
  MECHLENS_CHECK(InputError, std::find(components.begin(), components.end(), component) != components.end(),
                 "--component {}: {} holds {}", component, reader.path(), fmt::join(components, ", "));
  const std::string group = "/results/" + component;
  LabelledTensor scores = reader.read(group + "/normalised");
  MECHLENS_CHECK(
      InputError,
      scores.values.dim() >= 1 && scores.values.dim() <= 3 && scores.dims.size() == size_t(scores.values.dim()),
      "{}: {}/normalised has {} dimensions; a heatmap draws 1 to 3 named ones", reader.path(), group,
      scores.values.dim());
  torch::Tensor values = scores.values.to(torch::kFloat64).nan_to_num(0.0);
  auto labels_of = [&](size_t d) {
    std::vector<std::string> out;
    const std::string path = group + "/label_" + scores.dims[d];
    std::vector<std::string> roles;
    if (reader.exists(path + "_role")) roles = reader.strings(path + "_role");
    if (!reader.exists(path)) {
      for (int64_t i = 0; i < values.size(int64_t(d)); ++i) out.push_back(std::to_string(i));
      return out;
    }
    try {
      const torch::Tensor ids = reader.read(path).values.to(torch::kLong).contiguous();
      for (int64_t i = 0; i < ids.numel(); ++i) {
        const std::string role = size_t(i) < roles.size() ? roles[size_t(i)] : "";
        out.push_back(
            fmt::format("{} {}{}", scores.dims[d], ids.data_ptr<int64_t>()[i], role.empty() ? "" : " " + role));
      }
    } catch (const StoreError&) {
      out = reader.strings(path);
    }
    return out;
  };
  std::string slice_note;
  if (values.dim() == 3) {
    int64_t slice = request.slice;
    if (slice < 0) slice = values.abs().flatten().argmax().item<int64_t>() % values.size(2);  // the strongest
    MECHLENS_CHECK(InputError, slice < values.size(2), "--slice {} is outside the {} {}s", slice, values.size(2),
                   scores.dims[2]);
    slice_note = fmt::format(", {}", labels_of(2)[size_t(slice)]);
    values = values.select(2, slice);
  } else if (values.dim() == 1) {
    values = values.unsqueeze(0);
  }
  Matrix m{values.contiguous(), scores.dims.size() == 1 ? std::vector<std::string>{""} : labels_of(0),
           labels_of(scores.dims.size() == 1 ? 0 : 1), false};
  check_cells(request, double(values.numel()));
  const double scale = std::max(1e-12, values.abs().max().item<double>());
  const double cols = double(values.size(1)), rows = double(values.size(0));
  const double cell = std::clamp(720.0 / cols, 6.0, 30.0), left = 160, top = 180;
  const nlohmann::json attrs = reader.attributes(group);
  const std::string title = fmt::format("{}{}: normalised {} ({}; clean {:.3g}, corrupted {:.3g})", component,
                                        slice_note, attrs.value("metric_name", "metric"), attrs.value("direction", "?"),
                                        attrs.value("clean_metric", 0.0), attrs.value("corrupted_metric", 0.0));
  const std::string body = heatmap(m, left, top, cell, true, scale, true) +
                           colour_bar(left + cols * cell + 16, top, rows * cell, true, scale);
  // Wide enough for the title (about 8 px a character at 14 px bold).
  return document(std::max(left + cols * cell + 90, 20 + 8.0 * double(title.size())), top + rows * cell + 20, title,
                  body);
}

}  // namespace

PlotKind parse_plot_kind(const std::string& text) {
  if (text == "attention") return PlotKind::kAttention;
  if (text == "heads") return PlotKind::kHeadGrid;
  if (text == "patching") return PlotKind::kPatching;
  MECHLENS_FAIL(InputError, "--kind '{}' is unknown; expected attention, heads or patching", text);
}

std::string render_svg(const PlotRequest& request) {
  const ResultReader reader(request.input);
  if (request.kind == PlotKind::kPatching) {
    MECHLENS_CHECK(InputError, reader.format() == "mechlens-patching",
                   "{}: is a {} file; --kind patching reads a patching result (mechlens patch --out)", request.input,
                   reader.format());
    return patching_svg(reader, request);
  }
  return attention_svg(reader, request);
}

}  // namespace mechlens
