#include "store/record_rewrite.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "store/h5_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

constexpr size_t kCopyBlockBytes = size_t(64) << 20;  // rows copied per read/write: bounded memory

// Closes an HDF5 id when it goes out of scope (the C API's ids, for the generic copies below).
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

struct CopyContext {
  hid_t target;
  std::string what;  // for errors: "<file>: <object>"
  bool failed = false;
};

herr_t copy_attribute(hid_t location, const char* name, const H5A_info_t* /*info*/, void* data) {
  auto* context = static_cast<CopyContext*>(data);
  Id attribute(H5Aopen(location, name, H5P_DEFAULT), H5Aclose);
  Id type(attribute.valid() ? H5Aget_type(attribute.get()) : -1, H5Tclose);
  Id space(attribute.valid() ? H5Aget_space(attribute.get()) : -1, H5Sclose);
  if (!type.valid() || !space.valid()) return context->failed = true, -1;
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  std::vector<char> buffer(size_t(std::max<hssize_t>(count, 1)) * H5Tget_size(type.get()));
  if (H5Aread(attribute.get(), type.get(), buffer.data()) < 0) return context->failed = true, -1;
  Id copy(H5Acreate2(context->target, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const bool written = copy.valid() && H5Awrite(copy.get(), type.get(), buffer.data()) >= 0;
  if (H5Tis_variable_str(type.get()) > 0) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, buffer.data());
  if (!written) return context->failed = true, -1;
  return 0;
}

void copy_attributes(hid_t source, hid_t target, const std::string& what) {
  CopyContext context{target, what};
  hsize_t index = 0;
  const herr_t status = H5Aiterate2(source, H5_INDEX_NAME, H5_ITER_NATIVE, &index, copy_attribute, &context);
  MECHLENS_CHECK(StoreError, status >= 0 && !context.failed, "{}: cannot copy its attributes", what);
}

// Copies the first `rows` rows of a dataset. Row-wise data stays extendible along its rows; other
// data (the vocabulary, stored contiguously) keeps the source's fixed extent.
void copy_dataset_prefix(hid_t source_group, hid_t target_group, const std::string& name, int64_t rows, bool row_wise,
                         const std::string& what) {
  Id source(H5Dopen2(source_group, name.c_str(), H5P_DEFAULT), H5Dclose);
  MECHLENS_CHECK(StoreError, source.valid(), "{}: cannot open", what);
  Id type(H5Dget_type(source.get()), H5Tclose);
  Id space(H5Dget_space(source.get()), H5Sclose);
  Id properties(H5Dget_create_plist(source.get()), H5Pclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  MECHLENS_CHECK(StoreError, type.valid() && properties.valid() && rank >= 1, "{}: unreadable layout", what);
  std::vector<hsize_t> shape(static_cast<size_t>(rank));
  std::vector<hsize_t> max_shape(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), shape.data(), max_shape.data());
  MECHLENS_CHECK(StoreError, shape[0] >= hsize_t(rows), "{} holds {} rows but n_complete is {}; the file is damaged",
                 what, shape[0], rows);
  if (row_wise) {
    shape[0] = hsize_t(rows);
    max_shape = shape;
    max_shape[0] = H5S_UNLIMITED;
  }
  Id target_space(H5Screate_simple(rank, shape.data(), max_shape.data()), H5Sclose);
  Id target(H5Dcreate2(target_group, name.c_str(), type.get(), target_space.get(), H5P_DEFAULT, properties.get(),
                       H5P_DEFAULT),
            H5Dclose);
  MECHLENS_CHECK(StoreError, target.valid(), "{}: cannot create its copy", what);
  copy_attributes(source.get(), target.get(), what);

  size_t row_bytes = H5Tget_size(type.get());
  for (int d = 1; d < rank; ++d) row_bytes *= shape[size_t(d)];
  const hsize_t block = std::max<hsize_t>(1, kCopyBlockBytes / std::max<size_t>(row_bytes, 1));
  std::vector<char> buffer;
  for (hsize_t start = 0; start < hsize_t(rows); start += block) {
    std::vector<hsize_t> offset(size_t(rank), 0), count = shape;
    offset[0] = start;
    count[0] = std::min<hsize_t>(block, hsize_t(rows) - start);
    buffer.resize(count[0] * row_bytes);
    Id memory(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
    Id from(H5Dget_space(source.get()), H5Sclose);
    Id to(H5Dget_space(target.get()), H5Sclose);
    const bool ok =
        H5Sselect_hyperslab(from.get(), H5S_SELECT_SET, offset.data(), nullptr, count.data(), nullptr) >= 0 &&
        H5Sselect_hyperslab(to.get(), H5S_SELECT_SET, offset.data(), nullptr, count.data(), nullptr) >= 0 &&
        H5Dread(source.get(), type.get(), memory.get(), from.get(), H5P_DEFAULT, buffer.data()) >= 0 &&
        H5Dwrite(target.get(), type.get(), memory.get(), to.get(), H5P_DEFAULT, buffer.data()) >= 0;
    if (H5Tis_variable_str(type.get()) > 0) H5Dvlen_reclaim(type.get(), memory.get(), H5P_DEFAULT, buffer.data());
    MECHLENS_CHECK(StoreError, ok, "{}: cannot copy rows {}..{} (damaged by the interruption?)", what, start,
                   start + count[0] - 1);
  }
  MECHLENS_CHECK(StoreError, H5Dflush(target.get()) >= 0, "{}: cannot write its copy (disk full?)", what);
}

}  // namespace

void copy_record_prefix(const H5::H5File& source, const H5::H5File& target, int64_t rows,
                        const std::string& source_path) {
  copy_attributes(source.getId(), target.getId(), source_path + ": /");
  for (const char* group_name : {"/", "/acts", "/annotations"}) {
    if (std::string(group_name) != "/") {
      MECHLENS_CHECK(StoreError, source.nameExists(group_name), "{}: no group {}; the file is damaged", source_path,
                     group_name);
      target.createGroup(group_name);
    }
    const H5::Group from = source.openGroup(group_name), to = target.openGroup(group_name);
    for (hsize_t i = 0; i < from.getNumObjs(); ++i) {
      if (from.getObjTypeByIdx(i) != H5G_DATASET) continue;
      const std::string name = from.getObjnameByIdx(i);
      const std::string folder = std::string(group_name) == "/" ? "/" : std::string(group_name) + "/";
      // Row-wise data keeps its complete rows; anything else (the vocabulary) is copied whole.
      const H5::DataSet dataset = from.openDataSet(name);
      const H5::DataSpace space = dataset.getSpace();
      std::vector<hsize_t> extent(size_t(std::max(space.getSimpleExtentNdims(), 1)), 0);
      space.getSimpleExtentDims(extent.data());
      const bool row_wise = !h5::has_attr(dataset, "dims") || h5::read_dims_attr(dataset).front() == "batch";
      const int64_t keep = row_wise ? rows : int64_t(extent.front());
      copy_dataset_prefix(from.getId(), to.getId(), name, keep, row_wise,
                          fmt::format("{}: {}{}", source_path, folder, name));
    }
  }
}

}  // namespace mechlens
