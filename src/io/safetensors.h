// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then raw data.
// Every inconsistency is reported with the file path and the tensor's name.
#pragma once

#include <torch/types.h>  // torch::Tensor

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mechlens {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct SafetensorsFile {
  NamedTensors tensors;                         // in header order
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

/// Writes `tensors` (any device; stored little-endian, contiguous) to `path` through a temporary
/// file that is renamed into place only when complete, so a failure never leaves a partial file.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// Reads and validates the whole file. Throws CheckpointError naming the file and field.
SafetensorsFile read_safetensors(const std::string& path);

/// As read_safetensors, but the tensors are views of the memory-mapped file (io/mapped_file.h):
/// nothing is copied, and pages are read when first touched. For checkpoints of any size.
SafetensorsFile map_safetensors(const std::string& path);

/// Reads only the header's "__metadata__" (cheap for large files).
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);

}  // namespace mechlens
