// `mechlens view`: a mechlens file as one self-contained HTML page, its kind chosen by the file:
// a record with attention patterns gives the attention page (a grid of heads per layer, one large
// map with token labels, hover values, click to lock), a patching result the patching page
// (diverging heatmaps around 0 with labels, the metric and normalisation in the title). A new
// analysis adds a page kind: a function that builds its JSON and a renderer in viewer.html.
#pragma once

#include <cstdint>
#include <string>

namespace mechlens {

struct ViewRequest {
  std::string input;              // a mechlens .h5
  std::string examples = "0";     // attention pages: prompts to include (IndexSpec)
  std::string layers = "all";     // attention pages: recorded layers to include
  int64_t max_bytes = 256 << 20;  // refuse pages whose embedded data would be larger
};

/// The page's HTML. Throws InputError naming the file for files no page kind shows, selections
/// out of range, and pages beyond max_bytes (with the size and how to select less).
std::string render_view(const ViewRequest& request);

}  // namespace mechlens
