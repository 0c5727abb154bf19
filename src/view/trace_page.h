// The trace page's JSON (`mechlens view` of a `mechlens trace` file): the knock-out path as a
// table, the knock-out grid and the span attention as heatmaps, and the information-flow graph of
// the graph prompt drawn as SVG by the page.
#pragma once

#include <nlohmann/json.hpp>

#include "store/result_reader.h"

namespace mechlens {

nlohmann::json trace_page(const ResultReader& reader);

}  // namespace mechlens
