#include "store/h5_tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "store/h5_util.h"
#include "util/error.h"

namespace mechlens::h5 {

void write_tensor(const H5::Group& group, const std::string& name, const torch::Tensor& tensor,
                  const std::vector<std::string>& dims) {
  const bool integer = !at::isFloatingType(tensor.scalar_type());
  torch::Tensor data = tensor.to(torch::kCPU, integer ? torch::kLong : torch::kFloat32).contiguous();
  std::vector<hsize_t> shape(data.sizes().begin(), data.sizes().end());
  H5::DataSpace space(int(shape.size()), shape.data());
  H5::DataSet dataset = group.createDataSet(name, integer ? H5::PredType::STD_I64LE : H5::PredType::IEEE_F32LE, space);
  dataset.write(data.data_ptr(), integer ? H5::PredType::NATIVE_INT64 : H5::PredType::NATIVE_FLOAT);
  if (!dims.empty()) write_attr(dataset, "dims", fmt::format("{}", fmt::join(dims, ",")));
  dataset.close();
}

torch::Tensor read_tensor(const H5::DataSet& dataset, const std::string& what, int64_t start, int64_t count) {
  const H5T_class_t type_class = dataset.getTypeClass();
  MECHLENS_CHECK(StoreError, type_class == H5T_FLOAT || type_class == H5T_INTEGER,
                 "{}: holds {} data, expected numbers", what, type_class == H5T_STRING ? "string" : "non-numeric");
  H5::DataSpace file_space = dataset.getSpace();
  const int rank = file_space.getSimpleExtentNdims();
  std::vector<hsize_t> shape(size_t(std::max(rank, 0)));
  file_space.getSimpleExtentDims(shape.data());
  const bool half = type_class == H5T_FLOAT && dataset.getFloatType().getSize() == 2;
  const torch::ScalarType stored = type_class == H5T_FLOAT ? (half ? torch::kHalf : torch::kFloat32) : torch::kInt64;
  if (rank == 0) {  // a scalar dataset
    torch::Tensor out = torch::empty({}, stored);
    dataset.read(out.data_ptr(), type_class != H5T_FLOAT ? H5::PredType::NATIVE_INT64
                                 : half                  ? static_cast<const H5::DataType&>(half_type())
                                                         : H5::PredType::NATIVE_FLOAT);
    return half ? out.to(torch::kFloat32) : out;
  }
  const auto rows = static_cast<int64_t>(shape[0]);
  if (count < 0) count = rows - start;
  MECHLENS_CHECK(StoreError, start >= 0 && count >= 0 && start + count <= rows,
                 "{}: rows [{}, {}) requested, the dataset has {}", what, start, start + count, rows);
  std::vector<hsize_t> offset(size_t(rank), 0), extent = shape;
  offset[0] = static_cast<hsize_t>(start);
  extent[0] = static_cast<hsize_t>(count);
  std::vector<int64_t> sizes(extent.begin(), extent.end());
  torch::Tensor out = torch::empty(sizes, stored);
  if (out.numel() == 0) return half ? out.to(torch::kFloat32) : out;
  file_space.selectHyperslab(H5S_SELECT_SET, extent.data(), offset.data());
  const H5::DataType& memory_type = type_class != H5T_FLOAT ? H5::PredType::NATIVE_INT64
                                    : half                  ? static_cast<const H5::DataType&>(half_type())
                                                            : H5::PredType::NATIVE_FLOAT;
  dataset.read(out.data_ptr(), memory_type, H5::DataSpace(rank, extent.data()), file_space);
  return half ? out.to(torch::kFloat32) : out;
}

std::vector<std::string> read_strings(const H5::DataSet& dataset, const std::string& what) {
  MECHLENS_CHECK(StoreError, dataset.getTypeClass() == H5T_STRING, "{}: holds numbers, expected strings", what);
  const H5::DataSpace space = dataset.getSpace();
  MECHLENS_CHECK(StoreError, space.getSimpleExtentNdims() == 1, "{}: has {} dimensions, expected a list of strings",
                 what, space.getSimpleExtentNdims());
  hsize_t n = 0;
  space.getSimpleExtentDims(&n);
  const H5::StrType type = dataset.getStrType();
  std::vector<std::string> out;
  out.reserve(n);
  if (type.isVariableStr()) {
    std::vector<char*> pointers(n, nullptr);
    const H5::StrType memory(H5::PredType::C_S1, H5T_VARIABLE);
    if (n > 0) dataset.read(pointers.data(), memory);
    for (char* p : pointers) out.emplace_back(p != nullptr ? p : "");
    if (n > 0) H5Dvlen_reclaim(memory.getId(), space.getId(), H5P_DEFAULT, pointers.data());
  } else {
    const size_t width = type.getSize();
    std::vector<char> buffer(n * width);
    if (n > 0) dataset.read(buffer.data(), type);
    for (hsize_t i = 0; i < n; ++i) {
      const char* begin = buffer.data() + i * width;
      out.emplace_back(begin, strnlen(begin, width));
    }
  }
  return out;
}

}  // namespace mechlens::h5
