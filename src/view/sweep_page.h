// The sweep page's JSON (`mechlens view` of a `mechlens sweep` folder's sweep.h5): every run's
// training curve of a chosen metric (one colour per condition), and the per-condition table.
#pragma once

#include <nlohmann/json.hpp>

#include "store/result_reader.h"

namespace mechlens {

nlohmann::json sweep_page(const ResultReader& reader);

}  // namespace mechlens
