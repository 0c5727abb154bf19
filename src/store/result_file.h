// Analysis result files (HDF5, h5py-readable), written the one way every analysis shares: one
// writer per output (OutputLock), the data in PATH.partial, an explicit close (so a failed write is
// an error, not a message printed by a destructor), fsync, then the rename. A failure at any step
// removes the partial file: nothing is ever left at PATH looking complete.
#pragma once

#include <H5Cpp.h>
#include <torch/types.h>  // torch::Tensor

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "store/h5_tensor.h"

namespace mechlens {

/// Where results came from, written as root attributes (empty fields are left out).
struct Provenance {
  std::string checkpoint;
  std::string checkpoint_sha256;
  std::string command_line;
  std::string model_config_json;
  std::string input_sha256;        // hash of the token ids (and lengths) the run read
  std::string task_json;           // settings of the task that generated the prompts, if any
  std::string options_json;        // every option of the run, as JSON
  std::vector<std::string> vocab;  // token strings by id, when known (a task's or a tokenizer's)
};

/// Writes the fields of `provenance` (and mechlens_version, created, threads) as attributes of `group`, and
/// the vocabulary as its dataset "vocab" (dims "token"; too large for an attribute in general).
void write_provenance(const H5::Group& group, const Provenance& provenance);

/// Writes `path` atomically: root attributes format and format_version (an integer, as in
/// records), then whatever `fill` writes. Throws StoreError naming the file.
void write_result_file(const std::string& path, const std::string& format, int64_t format_version,
                       const std::function<void(H5::H5File&)>& fill);

/// Per-prompt annotations ([batch, ...] each) as the group "annotations" of `prompts`, each with its
/// dims where `dims` names them (and their count matches the tensor's rank).
void write_annotations(const H5::Group& prompts, const std::vector<std::pair<std::string, torch::Tensor>>& annotations,
                       const std::map<std::string, std::vector<std::string>>& dims);

using h5::write_tensor;  // store/h5_tensor.h: how every mechlens file stores a tensor

}  // namespace mechlens
