#include "store/record_reader.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "hooks/hook_names.h"
#include "store/h5_tensor.h"
#include "store/h5_util.h"
#include "store/record_schema.h"
#include "util/error.h"

namespace mechlens {
namespace {

std::vector<std::string> list_datasets(const H5::Group& group) {
  std::vector<std::string> names;
  for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
    if (group.getObjTypeByIdx(i) == H5G_DATASET) names.push_back(group.getObjnameByIdx(i));
  }
  return names;
}

}  // namespace

RecordReader::RecordReader(const std::string& path) : path_(path) {
  h5::silence_errors();
  MECHLENS_CHECK(StoreError, std::filesystem::exists(path), "{}: no such record file{}", path,
                 std::filesystem::exists(path + kPartialSuffix)
                     ? " (an unfinished " + path + kPartialSuffix + " exists: resume it with --resume)"
                     : "");
  try {
    file_ = std::make_unique<H5::H5File>(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path, "cannot open as HDF5 (truncated or not an HDF5 file)");
  }
  try {
    MECHLENS_CHECK(StoreError,
                   h5::has_attr(*file_, "format") && h5::read_string_attr(*file_, "format") == kRecordFormat,
                   "{}: attribute 'format' is not '{}'; not a mechlens record", path, kRecordFormat);
    const int64_t version = h5::read_int_attr(*file_, "format_version");
    MECHLENS_CHECK(StoreError, version == kRecordFormatVersion,
                   "{}: format_version is {}, this mechlens reads version {}", path, version, kRecordFormatVersion);
    MECHLENS_CHECK(StoreError, h5::read_int_attr(*file_, "complete") == 1,
                   "{}: record is incomplete ({} of {} examples written)", path,
                   h5::read_int_attr(*file_, "n_complete"), h5::read_int_attr(*file_, "n_planned"));
    n_examples_ = h5::read_int_attr(*file_, "n_complete");
    MECHLENS_CHECK(StoreError, file_->nameExists("tokens") && file_->childObjType("tokens") == H5O_TYPE_DATASET,
                   "{}: no dataset /tokens; the file is damaged", path);
    const auto tokens_shape = [&] {
      H5::DataSpace space = file_->openDataSet("tokens").getSpace();
      std::vector<hsize_t> dims(space.getSimpleExtentNdims());
      space.getSimpleExtentDims(dims.data());
      return dims;
    }();
    MECHLENS_CHECK(StoreError, static_cast<int64_t>(tokens_shape[0]) == n_examples_,
                   "{}: /tokens has {} rows but n_complete is {}; the file is damaged", path, tokens_shape[0],
                   n_examples_);
    require_layout(tokens_shape);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path, "record metadata is unreadable (truncated file?)");
  }
}

// Every group and dataset the accessors open, present with the right kind and shape; prompt lengths
// within 1..width. Checked once here so that no accessor meets a missing object.
void RecordReader::require_layout(const std::vector<hsize_t>& tokens_shape) const {
  MECHLENS_CHECK(StoreError, tokens_shape.size() == 2, "{}: /tokens has {} dims, expected 2 [example, pos]", path_,
                 tokens_shape.size());
  for (const char* group : {"acts", "annotations"}) {
    MECHLENS_CHECK(StoreError, file_->nameExists(group) && file_->childObjType(group) == H5O_TYPE_GROUP,
                   "{}: no group /{}; the file is damaged", path_, group);
  }
  MECHLENS_CHECK(StoreError, file_->nameExists("lengths") && file_->childObjType("lengths") == H5O_TYPE_DATASET,
                 "{}: no dataset /lengths; the file is damaged", path_);
  const torch::Tensor lengths = read_rows("lengths", 0, n_examples_);
  MECHLENS_CHECK(StoreError, lengths.dim() == 1 && lengths.size(0) == n_examples_,
                 "{}: /lengths has shape {}, expected [{}]", path_, fmt::join(lengths.sizes(), "x"), n_examples_);
  if (n_examples_ > 0) {
    const int64_t shortest = lengths.min().item<int64_t>(), longest = lengths.max().item<int64_t>();
    MECHLENS_CHECK(StoreError, shortest >= 1 && longest <= int64_t(tokens_shape[1]),
                   "{}: /lengths holds values {}..{}, expected 1..{} (the width of /tokens)", path_, shortest, longest,
                   tokens_shape[1]);
  }
  for (const std::string& hook : hooks()) {
    MECHLENS_CHECK(StoreError, int64_t(shape(hook).at(0)) == n_examples_,
                   "{}: /acts/{} has {} rows, expected {} (n_complete)", path_, hook, shape(hook).at(0), n_examples_);
  }
}

std::vector<std::string> RecordReader::hooks() const {
  try {
    return list_datasets(file_->openGroup("acts"));
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, "cannot list /acts");
  }
}

std::vector<std::string> RecordReader::annotations() const {
  try {
    return list_datasets(file_->openGroup("annotations"));
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, "cannot list /annotations");
  }
}

bool RecordReader::has_hook(const std::string& name) const {
  const std::vector<std::string> names = hooks();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<std::string> RecordReader::dims(const std::string& hook) const {
  const std::vector<std::string> names = hooks();
  MECHLENS_CHECK(StoreError, has_hook(hook), "{}: record holds no hook '{}' (it holds {}); closest: {}", path_, hook,
                 names.size(), fmt::join(closest_names(hook, names), ", "));
  try {
    return h5::read_dims_attr(file_->openDataSet("acts/" + hook));
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read the dims of /acts/{}", hook));
  }
}

std::vector<std::string> RecordReader::annotation_dims(const std::string& name) const {
  read_annotation(name, 0, 0);  // validates the name
  try {
    return h5::read_dims_attr(file_->openDataSet("annotations/" + name));
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read the dims of /annotations/{}", name));
  }
}

std::vector<int64_t> RecordReader::shape(const std::string& hook) const {
  MECHLENS_CHECK(StoreError, has_hook(hook), "{}: record holds no hook '{}'", path_, hook);
  try {
    H5::DataSpace space = file_->openDataSet("acts/" + hook).getSpace();
    std::vector<hsize_t> dims(space.getSimpleExtentNdims());
    space.getSimpleExtentDims(dims.data());
    MECHLENS_CHECK(StoreError, !dims.empty(), "{}: /acts/{} is a scalar, expected [example, ...]", path_, hook);
    return std::vector<int64_t>(dims.begin(), dims.end());
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read the shape of /acts/{}", hook));
  }
}

std::string RecordReader::attribute(const std::string& name) const {
  try {
    MECHLENS_CHECK(StoreError, h5::has_attr(*file_, name), "{}: no root attribute '{}'", path_, name);
    return h5::read_string_attr(*file_, name);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read the root attribute '{}'", name));
  }
}

torch::Tensor RecordReader::read_rows(const std::string& dataset_path, int64_t start, int64_t count) const {
  try {
    return h5::read_tensor(file_->openDataSet(dataset_path), path_ + ": " + dataset_path, start, count);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read {} (truncated file?)", dataset_path));
  }
}

torch::Tensor RecordReader::read_hook(const std::string& hook, int64_t start, int64_t count) const {
  dims(hook);  // clear error for unknown hooks
  return read_rows("acts/" + hook, start, count);
}

torch::Tensor RecordReader::read_hook_heads(const std::string& hook, const std::vector<int64_t>& heads, int64_t start,
                                            int64_t count) const {
  torch::Tensor values = read_hook(hook, start, count);
  if (heads.empty()) return values;
  const auto names = dims(hook);
  const auto it = std::find(names.begin(), names.end(), "head");
  MECHLENS_CHECK(StoreError, it != names.end(), "{}: hook '{}' has no head dimension (dims {})", path_, hook,
                 fmt::join(names, ","));
  const int64_t dim = it - names.begin();
  for (int64_t head : heads) {
    MECHLENS_CHECK(StoreError, head >= 0 && head < values.size(dim), "{}: head {} requested, '{}' holds {} heads",
                   path_, head, hook, values.size(dim));
  }
  return values.index_select(dim, torch::tensor(heads, torch::kLong));
}

torch::Tensor RecordReader::read_tokens(int64_t start, int64_t count) const {
  return read_rows("tokens", start, count);
}

torch::Tensor RecordReader::read_lengths(int64_t start, int64_t count) const {
  return read_rows("lengths", start, count);
}

torch::Tensor RecordReader::read_positions(int64_t start, int64_t count) const {
  try {
    if (!file_->nameExists("positions")) return torch::Tensor();
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, "cannot look up /positions");
  }
  return read_rows("positions", start, count);
}

torch::Tensor RecordReader::read_annotation(const std::string& name, int64_t start, int64_t count) const {
  const auto names = annotations();
  MECHLENS_CHECK(StoreError, std::find(names.begin(), names.end(), name) != names.end(),
                 "{}: record holds no annotation '{}' (it holds: {})", path_, name, fmt::join(names, ", "));
  return read_rows("annotations/" + name, start, count);
}

}  // namespace mechlens
