// The heads page's JSON (`mechlens view` of a `mechlens heads` file): every head's labels with the
// evidence behind each, the paper's claims with their verdicts where the report has them (logic
// task), and [layer, head] heatmaps of each detector's score, the direct logit attribution and the
// ablation drop — all read from the report the command stored (/roles/report_json).
#pragma once

#include <nlohmann/json.hpp>

#include "store/result_reader.h"

namespace mechlens {

nlohmann::json heads_page(const ResultReader& reader);

}  // namespace mechlens
