// The mechlens record format (HDF5), documented in docs/RECORD_FORMAT.md. Constants shared by the
// writer and the reader, and the settings that decide what a record holds.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store/result_file.h"

namespace mechlens {

inline constexpr const char* kRecordFormat = "mechlens-record";
inline constexpr int64_t kRecordFormatVersion = 1;
inline constexpr const char* kPartialSuffix = ".partial";

/// What a record holds and how it is stored; all of it must match to --resume a partial file.
struct RecordSettings {
  std::vector<std::string> hooks;       // full hook names, forward order
  std::string positions = "all";        // IndexSpec over pos/dest dims (negative: from each prompt's end)
  std::string heads = "all";            // IndexSpec over head dims
  c10::ScalarType dtype = c10::kFloat;  // storage: kFloat (float32) or kHalf (IEEE float16)
  int gzip_level = 0;                   // 0 = uncompressed; 1..9 = gzip with the shuffle filter
  int64_t batch_size = 32;
  /// Positions kept per prompt [N, K] int64, when the caller resolved `positions` itself (a task's
  /// named spans); undefined: resolved from `positions` by the recorder.
  at::Tensor kept_positions;
};

/// Where the activations come from, written as root attributes (store/result_file.h).
using RecordProvenance = Provenance;

std::string dtype_name(c10::ScalarType dtype);  // "float32" / "float16"

}  // namespace mechlens
