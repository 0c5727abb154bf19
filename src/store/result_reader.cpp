#include "store/result_reader.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>

#include "store/h5_tensor.h"
#include "store/h5_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

// "/results/x" for errors and lookups, whether or not the caller wrote the leading slash.
std::string absolute(const std::string& object) { return object.empty() || object[0] != '/' ? "/" + object : object; }

}  // namespace

ResultReader::ResultReader(const std::string& path) : path_(path) {
  h5::silence_errors();
  std::error_code error;
  MECHLENS_CHECK(StoreError, std::filesystem::exists(path, error), "{}: no such file{}", path,
                 std::filesystem::exists(path + ".partial", error)
                     ? " (" + path + ".partial is unfinished: its run was interrupted or is still writing)"
                     : "");
  MECHLENS_CHECK(StoreError, std::filesystem::is_regular_file(path, error), "{}: is not a regular file, expected HDF5",
                 path);
  try {
    file_ = std::make_unique<H5::H5File>(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path, "cannot open as HDF5 (truncated or not an HDF5 file)");
  }
  try {
    MECHLENS_CHECK(StoreError, h5::has_attr(*file_, "format"),
                   "{}: no root attribute 'format'; not a file written by mechlens", path);
    format_ = h5::read_string_attr(*file_, "format");
    MECHLENS_CHECK(StoreError, format_.rfind("mechlens-", 0) == 0,
                   "{}: root attribute 'format' is '{}', expected mechlens-record or a mechlens result", path, format_);
    MECHLENS_CHECK(StoreError, h5::has_attr(*file_, "format_version"), "{}: no root attribute 'format_version'", path);
    format_version_ = h5::read_int_attr(*file_, "format_version");
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path, "cannot read the root attributes 'format' and 'format_version'");
  }
}

ResultReader::~ResultReader() = default;
ResultReader::ResultReader(ResultReader&&) noexcept = default;
ResultReader& ResultReader::operator=(ResultReader&&) noexcept = default;

bool ResultReader::exists(const std::string& object) const {
  try {
    // Each step of the path must exist: nameExists on "/a/b" fails when "/a" does not.
    std::string prefix;
    const std::string full = absolute(object);
    for (size_t start = 1; start <= full.size();) {
      const size_t slash = std::min(full.find('/', start), full.size());
      prefix += "/" + full.substr(start, slash - start);
      if (!file_->nameExists(prefix)) return false;
      start = slash + 1;
    }
    return true;
  } catch (const H5::Exception&) {
    return false;
  }
}

namespace {

// Calls `read` with the group or dataset at `full` ("/" is the file's root group).
template <typename Read>
auto with_object(const H5::H5File& file, const std::string& full, Read&& read) {
  if (full == "/") return read(static_cast<const H5::H5Object&>(file));
  if (file.childObjType(full) == H5O_TYPE_DATASET)
    return read(static_cast<const H5::H5Object&>(file.openDataSet(full)));
  return read(static_cast<const H5::H5Object&>(file.openGroup(full)));
}

}  // namespace

bool ResultReader::has_attribute(const std::string& name, const std::string& object) const {
  if (!exists(object)) return false;
  try {
    return with_object(*file_, absolute(object), [&](const H5::H5Object& at) { return h5::has_attr(at, name); });
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read the attributes of {}", absolute(object)));
  }
}

std::string ResultReader::attribute(const std::string& name, const std::string& object) const {
  const std::string full = absolute(object);
  MECHLENS_CHECK(StoreError, has_attribute(name, full), "{}: {} has no attribute '{}'", path_, full, name);
  try {
    return with_object(*file_, full, [&](const H5::H5Object& at) { return h5::read_string_attr(at, name); });
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("attribute '{}' of {} is not a string", name, full));
  }
}

double ResultReader::number_attribute(const std::string& name, const std::string& object) const {
  const std::string full = absolute(object);
  MECHLENS_CHECK(StoreError, has_attribute(name, full), "{}: {} has no attribute '{}'", path_, full, name);
  try {
    return with_object(*file_, full, [&](const H5::H5Object& at) { return h5::read_double_attr(at, name); });
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("attribute '{}' of {} is not a number", name, full));
  }
}

namespace {

nlohmann::json attribute_json(const H5::Attribute& attribute) {
  const H5T_class_t type_class = attribute.getTypeClass();
  const H5::DataSpace space = attribute.getSpace();
  const hssize_t n = space.getSimpleExtentNpoints();
  const bool scalar = space.getSimpleExtentNdims() == 0;
  if (type_class == H5T_STRING && scalar) {
    std::string value;
    attribute.read(attribute.getStrType(), value);
    return value;
  }
  if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) return nullptr;  // other kinds: not exported
  std::vector<double> floats(size_t(std::max<hssize_t>(n, 0)));
  std::vector<int64_t> integers(floats.size());
  if (type_class == H5T_FLOAT) attribute.read(H5::PredType::NATIVE_DOUBLE, floats.data());
  else attribute.read(H5::PredType::NATIVE_INT64, integers.data());
  nlohmann::json values = type_class == H5T_FLOAT ? nlohmann::json(floats) : nlohmann::json(integers);
  return scalar && !values.empty() ? values[0] : values;
}

}  // namespace

nlohmann::json ResultReader::attributes(const std::string& object) const {
  const std::string full = absolute(object);
  MECHLENS_CHECK(StoreError, exists(full), "{}: no object {}", path_, full);
  try {
    return with_object(*file_, full, [&](const H5::H5Object& at) {
      nlohmann::json out = nlohmann::json::object();
      for (int i = 0; i < at.getNumAttrs(); ++i) {
        const H5::Attribute attribute = at.openAttribute(static_cast<unsigned>(i));
        out[attribute.getName()] = attribute_json(attribute);
      }
      return out;
    });
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read the attributes of {}", full));
  }
}

namespace {

std::vector<std::string> children(const H5::H5File& file, const std::string& path, const std::string& group,
                                  H5G_obj_t kind) {
  MECHLENS_CHECK(StoreError, group == "/" || file.childObjType(group) == H5O_TYPE_GROUP, "{}: {} is not a group", path,
                 group);
  const H5::Group opened = file.openGroup(group);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < opened.getNumObjs(); ++i) {
    if (opened.getObjTypeByIdx(i) == kind) names.push_back(opened.getObjnameByIdx(i));
  }
  return names;
}

}  // namespace

std::vector<std::string> ResultReader::groups(const std::string& group) const {
  MECHLENS_CHECK(StoreError, exists(group), "{}: no group {}", path_, absolute(group));
  try {
    return children(*file_, path_, absolute(group), H5G_GROUP);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot list {}", absolute(group)));
  }
}

std::vector<std::string> ResultReader::datasets(const std::string& group) const {
  MECHLENS_CHECK(StoreError, exists(group), "{}: no group {}", path_, absolute(group));
  try {
    return children(*file_, path_, absolute(group), H5G_DATASET);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot list {}", absolute(group)));
  }
}

void ResultReader::require_dataset(const std::string& full) const {
  bool found = false;
  try {
    found = exists(full) && file_->childObjType(full) == H5O_TYPE_DATASET;
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read the object {}", full));
  }
  MECHLENS_CHECK(StoreError, found, "{}: no dataset {}", path_, full);
}

std::vector<std::string> ResultReader::all_datasets() const {
  std::vector<std::string> out;
  const std::function<void(const std::string&)> walk = [&](const std::string& group) {
    const std::string prefix = group == "/" ? "/" : group + "/";
    for (const std::string& name : datasets(group)) out.push_back(prefix + name);
    for (const std::string& name : groups(group)) walk(prefix + name);
  };
  walk("/");
  return out;
}

LabelledTensor ResultReader::read(const std::string& dataset, int64_t start, int64_t count) const {
  const std::string full = absolute(dataset);
  require_dataset(full);
  try {
    const H5::DataSet opened = file_->openDataSet(full);
    LabelledTensor out;
    out.values = h5::read_tensor(opened, path_ + ": " + full, start, count);
    if (h5::has_attr(opened, "dims")) {
      out.dims = h5::read_dims_attr(opened);
      MECHLENS_CHECK(StoreError, int64_t(out.dims.size()) == out.values.dim(),
                     "{}: {} names {} dimensions in its 'dims' attribute but has {}", path_, full, out.dims.size(),
                     out.values.dim());
    }
    return out;
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read {} (truncated file?)", full));
  }
}

std::vector<int64_t> ResultReader::shape(const std::string& dataset) const {
  const std::string full = absolute(dataset);
  require_dataset(full);
  try {
    const H5::DataSpace space = file_->openDataSet(full).getSpace();
    std::vector<hsize_t> dims(size_t(std::max(space.getSimpleExtentNdims(), 0)));
    space.getSimpleExtentDims(dims.data());
    return std::vector<int64_t>(dims.begin(), dims.end());
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read the shape of {}", full));
  }
}

std::vector<std::string> ResultReader::strings(const std::string& dataset) const {
  const std::string full = absolute(dataset);
  require_dataset(full);
  try {
    return h5::read_strings(file_->openDataSet(full), path_ + ": " + full);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path_, fmt::format("cannot read {} (truncated file?)", full));
  }
}

std::vector<std::string> ResultReader::vocab() const {
  return exists("/vocab") ? strings("/vocab") : std::vector<std::string>{};
}

}  // namespace mechlens
