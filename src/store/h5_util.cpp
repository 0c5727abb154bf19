#include "store/h5_util.h"

#include <algorithm>
#include <mutex>

#include "util/error.h"

namespace mechlens::h5 {

void silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5::Exception::dontPrint(); });
}

bool close_or_abandon(std::unique_ptr<H5::H5File>& file) {
  if (!file) return true;
  try {
    file->close();
    file.reset();
    return true;
  } catch (const H5::Exception&) {
    (void)file.release();  // deliberately not closed again: see the header
    return false;
  }
}

void rethrow(const H5::Exception& error, const std::string& path, const std::string& what) {
  MECHLENS_FAIL(StoreError, "{}: {} ({}: {})", path, what, error.getFuncName(), error.getDetailMsg());
}

void write_attr(const H5::H5Object& object, const std::string& name, const std::string& value) {
  if (object.attrExists(name)) object.removeAttr(name);
  const H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  H5::Attribute attribute = object.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  attribute.write(type, value);
}

void write_strings(const H5::Group& group, const std::string& name, const std::vector<std::string>& values) {
  const H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  const hsize_t size = values.size();
  H5::DataSet dataset = group.createDataSet(name, type, H5::DataSpace(1, &size));
  std::vector<const char*> pointers;
  for (const auto& value : values) pointers.push_back(value.c_str());
  if (!pointers.empty()) dataset.write(pointers.data(), type);
}

void write_attr(const H5::H5Object& object, const std::string& name, int64_t value) {
  if (object.attrExists(name)) object.removeAttr(name);
  H5::Attribute attribute = object.createAttribute(name, H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR));
  attribute.write(H5::PredType::NATIVE_INT64, &value);
}

void overwrite_attr(const H5::H5Object& object, const std::string& name, int64_t value) {
  object.openAttribute(name).write(H5::PredType::NATIVE_INT64, &value);
}

H5::FileAccPropList latest_format_access() {
  H5::FileAccPropList access;
  access.setLibverBounds(H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  return access;
}

void write_attr(const H5::H5Object& object, const std::string& name, double value) {
  if (object.attrExists(name)) object.removeAttr(name);
  H5::Attribute attribute = object.createAttribute(name, H5::PredType::IEEE_F64LE, H5::DataSpace(H5S_SCALAR));
  attribute.write(H5::PredType::NATIVE_DOUBLE, &value);
}

double read_double_attr(const H5::H5Object& object, const std::string& name) {
  double value = 0;
  object.openAttribute(name).read(H5::PredType::NATIVE_DOUBLE, &value);
  return value;
}

void write_attr(const H5::H5Object& object, const std::string& name, const std::vector<int64_t>& values) {
  if (object.attrExists(name)) object.removeAttr(name);
  const hsize_t size = values.size();
  H5::DataSpace space = size == 0 ? H5::DataSpace(H5S_NULL) : H5::DataSpace(1, &size);
  H5::Attribute attribute = object.createAttribute(name, H5::PredType::STD_I64LE, space);
  if (size > 0) attribute.write(H5::PredType::NATIVE_INT64, values.data());
}

bool has_attr(const H5::H5Object& object, const std::string& name) { return object.attrExists(name); }

std::string read_string_attr(const H5::H5Object& object, const std::string& name) {
  H5::Attribute attribute = object.openAttribute(name);
  std::string value;
  attribute.read(attribute.getStrType(), value);
  return value;
}

int64_t read_int_attr(const H5::H5Object& object, const std::string& name) {
  int64_t value = 0;
  object.openAttribute(name).read(H5::PredType::NATIVE_INT64, &value);
  return value;
}

std::vector<int64_t> read_int_vector_attr(const H5::H5Object& object, const std::string& name) {
  H5::Attribute attribute = object.openAttribute(name);
  const hssize_t count = attribute.getSpace().getSimpleExtentNpoints();
  std::vector<int64_t> values(static_cast<size_t>(std::max<hssize_t>(count, 0)));
  if (!values.empty()) attribute.read(H5::PredType::NATIVE_INT64, values.data());
  return values;
}

std::vector<std::string> read_dims_attr(const H5::H5Object& object) {
  const std::string text = read_string_attr(object, "dims");
  std::vector<std::string> words;
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    words.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return words;
}

const H5::FloatType& half_type() {
  static const H5::FloatType kHalf = [] {
    H5::FloatType type(H5::PredType::IEEE_F32LE);
    type.setFields(/*spos=*/15, /*epos=*/10, /*esize=*/5, /*mpos=*/0, /*msize=*/10);
    type.setPrecision(16);
    type.setOffset(0);
    type.setSize(2);
    type.setEbias(15);
    return type;
  }();
  return kHalf;
}

}  // namespace mechlens::h5
