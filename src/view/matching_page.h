// The matching page's JSON (`mechlens view` of a `mechlens match` file): each hop layer's and head's
// scores as a table, and each matching matrix as the score reads it (row-softmax of M / sqrt(d_head))
// as a heatmap over the token set.
#pragma once

#include <nlohmann/json.hpp>

#include "store/result_reader.h"

namespace mechlens {

nlohmann::json matching_page(const ResultReader& reader);

}  // namespace mechlens
