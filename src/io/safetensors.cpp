#include "io/safetensors.h"

#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/mapped_file.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/output_file.h"

namespace mechlens {
namespace {

struct DtypeEntry {
  const char* name;
  torch::ScalarType type;
};
constexpr DtypeEntry kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
    {"I64", torch::kInt64},   {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},
    {"U8", torch::kUInt8},    {"BOOL", torch::kBool},
};

const char* dtype_name(torch::ScalarType type, const std::string& tensor_name) {
  for (const auto& entry : kDtypes) {
    if (entry.type == type) return entry.name;
  }
  MECHLENS_FAIL(CheckpointError, "tensor '{}' has dtype {}, which safetensors cannot store", tensor_name,
                c10::toString(type));
}

torch::ScalarType dtype_from_name(const std::string& name, const std::string& path, const std::string& tensor_name) {
  for (const auto& entry : kDtypes) {
    if (name == entry.name) return entry.type;
  }
  MECHLENS_FAIL(CheckpointError,
                "{}: tensor '{}' has dtype '{}', expected one of F64, F32, F16, BF16, "
                "I64, I32, I16, I8, U8, BOOL",
                path, tensor_name, name);
}

// Data is stored little-endian, as on every platform LibTorch supports here.
// Header JSON is padded with spaces to a multiple of 8 so that tensor data stays aligned.
constexpr size_t kAlignment = 8;

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> contiguous;
  contiguous.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    MECHLENS_CHECK(CheckpointError, tensor.defined(), "{}: tensor '{}' is undefined", path, name);
    MECHLENS_CHECK(CheckpointError, !header.contains(name), "{}: tensor name '{}' appears twice", path, name);
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = cpu.numel() * cpu.element_size();
    header[name] = {{"dtype", dtype_name(cpu.scalar_type(), name)},
                    {"shape", cpu.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(cpu));
  }
  std::string header_text = header.dump();
  header_text.append((kAlignment - header_text.size() % kAlignment) % kAlignment, ' ');

  const std::string temp_path = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(temp_path, std::ios::binary | std::ios::trunc);
    MECHLENS_CHECK(CheckpointError, out.good(), "{}: cannot open for writing", temp_path);
    const uint64_t header_size = header_text.size();
    unsigned char size_bytes[8];
    for (int i = 0; i < 8; ++i) size_bytes[i] = static_cast<unsigned char>(header_size >> (8 * i));
    out.write(reinterpret_cast<const char*>(size_bytes), 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const auto& tensor : contiguous) {
      out.write(static_cast<const char*>(tensor.data_ptr()),
                static_cast<std::streamsize>(tensor.numel() * tensor.element_size()));
    }
    out.close();  // the last buffer is written here: checked after, not before
    if (out.fail()) {
      std::remove(temp_path.c_str());
      MECHLENS_FAIL(CheckpointError, "{}: write failed (disk full?)", path);
    }
  }
  try {
    sync_file(temp_path);
  } catch (const InputError& e) {
    std::remove(temp_path.c_str());
    MECHLENS_FAIL(CheckpointError, "{}: write failed: {}", path, e.what());
  }
  std::error_code error;
  std::filesystem::rename(temp_path, path, error);
  if (error) {
    std::remove(temp_path.c_str());
    MECHLENS_FAIL(CheckpointError, "{}: cannot move finished file into place: {}", path, error.message());
  }
}

namespace {

// The parsed JSON header of a safetensors file, and where the data section lies.
struct Header {
  nlohmann::json json;
  uint64_t file_size = 0;
  uint64_t header_size = 0;
};

Header read_header(const std::string& path, std::ifstream& in) {
  std::error_code error;
  MECHLENS_CHECK(CheckpointError, !std::filesystem::is_directory(path, error),
                 "{}: is a directory, expected a safetensors file", path);
  MECHLENS_CHECK(CheckpointError, std::filesystem::exists(path, error), "{}: no such file", path);
  in.open(path, std::ios::binary);
  MECHLENS_CHECK(CheckpointError, in.good(), "{}: cannot open file", path);
  Header header;
  in.seekg(0, std::ios::end);
  header.file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  MECHLENS_CHECK(CheckpointError, header.file_size >= 8,
                 "{}: file has {} bytes, expected at least 8 (the header length); truncated or not a "
                 "safetensors file",
                 path, header.file_size);
  unsigned char size_bytes[8];
  in.read(reinterpret_cast<char*>(size_bytes), 8);
  for (int i = 7; i >= 0; --i) header.header_size = (header.header_size << 8) | size_bytes[i];
  MECHLENS_CHECK(CheckpointError, header.header_size <= header.file_size - 8,
                 "{}: header length {} exceeds the {} bytes after it; truncated or not a safetensors file", path,
                 header.header_size, header.file_size - 8);
  std::string text(header.header_size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header.header_size));
  header.json = parse_json_text<CheckpointError>(text, path + ": safetensors header");
  MECHLENS_CHECK(CheckpointError, header.json.is_object(), "{}: header must be a JSON object", path);
  return header;
}

std::map<std::string, std::string> metadata_of(const nlohmann::json& header, const std::string& path) {
  std::map<std::string, std::string> metadata;
  const auto entry = header.find("__metadata__");
  if (entry == header.end()) return metadata;
  MECHLENS_CHECK(CheckpointError, entry->is_object(), "{}: __metadata__ must be an object", path);
  for (const auto& meta : entry->items()) {
    MECHLENS_CHECK(CheckpointError, meta.value().is_string(), "{}: __metadata__ field '{}' must be a string", path,
                   meta.key());
    metadata[meta.key()] = meta.value().get<std::string>();
  }
  return metadata;
}

}  // namespace

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  std::ifstream in;
  return metadata_of(read_header(path, in).json, path);
}

namespace {

// One tensor of the header, checked: its dtype, shape and byte range within the data section.
struct TensorEntry {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // within the data section
  uint64_t bytes = 0;
};

// Every tensor of the header in data order, each range checked against the file, and the ranges
// tiling the data section exactly: no overlap, no gap, nothing after the last one.
std::vector<TensorEntry> checked_entries(const Header& parsed, const std::string& path) {
  const nlohmann::json& header = parsed.json;
  const uint64_t file_size = parsed.file_size;
  const uint64_t data_size = file_size - 8 - parsed.header_size;
  std::vector<TensorEntry> entries;
  for (const auto& item : header.items()) {
    const std::string& name = item.key();
    const auto& entry = item.value();
    if (name == "__metadata__") continue;
    MECHLENS_CHECK(
        CheckpointError,
        entry.is_object() && entry.contains("dtype") && entry.contains("shape") && entry.contains("data_offsets"),
        "{}: tensor '{}' must have dtype, shape and data_offsets", path, name);
    MECHLENS_CHECK(CheckpointError, entry["dtype"].is_string(), "{}: tensor '{}' dtype is {}, expected a string", path,
                   name, json_excerpt(entry["dtype"]));
    const torch::ScalarType dtype = dtype_from_name(entry["dtype"].get<std::string>(), path, name);
    const auto& shape_json = entry["shape"];
    const auto& offsets_json = entry["data_offsets"];
    MECHLENS_CHECK(CheckpointError, shape_json.is_array(), "{}: tensor '{}' shape is {}, expected a list of integers",
                   path, name, json_excerpt(shape_json));
    MECHLENS_CHECK(CheckpointError,
                   offsets_json.is_array() && offsets_json.size() == 2 && offsets_json[0].is_number_unsigned() &&
                       offsets_json[1].is_number_unsigned(),
                   "{}: tensor '{}' data_offsets is {}, expected [begin, end] of non-negative integers", path, name,
                   json_excerpt(offsets_json));
    const uint64_t begin = offsets_json[0].get<uint64_t>(), end = offsets_json[1].get<uint64_t>();
    std::vector<int64_t> shape;
    // Element count with overflow checks: a crafted shape must not wrap around to a small size.
    uint64_t numel = 1;
    for (const auto& dim_json : shape_json) {
      MECHLENS_CHECK(CheckpointError, dim_json.is_number_integer(),
                     "{}: tensor '{}' shape {} holds {}, expected integers", path, name, json_excerpt(shape_json),
                     json_excerpt(dim_json));
      const int64_t dim = dim_json.get<int64_t>();
      MECHLENS_CHECK(CheckpointError, dim >= 0, "{}: tensor '{}' has negative dimension {}", path, name, dim);
      MECHLENS_CHECK(CheckpointError, dim == 0 || numel <= file_size / static_cast<uint64_t>(dim),
                     "{}: tensor '{}' shape {} holds more elements than the file has bytes", path, name,
                     json_excerpt(shape_json));
      numel *= static_cast<uint64_t>(dim);
      shape.push_back(dim);
    }
    const uint64_t expected_bytes = numel * c10::elementSize(dtype);
    MECHLENS_CHECK(CheckpointError, begin <= end && end - begin == expected_bytes,
                   "{}: tensor '{}' data_offsets [{}, {}] span {} bytes, expected {} for shape [{}] of {}", path, name,
                   begin, end, end - begin, expected_bytes, fmt::join(shape, ", "), entry["dtype"].get<std::string>());
    MECHLENS_CHECK(CheckpointError, end <= data_size,
                   "{}: tensor '{}' ends at byte {} of the data section, which has only {} bytes; "
                   "the file is truncated",
                   path, name, end, data_size);
    entries.push_back({name, dtype, std::move(shape), begin, expected_bytes});
  }
  // JSON objects are unordered; the data offsets keep the order the tensors were written in.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const TensorEntry& a, const TensorEntry& b) { return a.begin < b.begin; });
  uint64_t expected_begin = 0;
  for (const TensorEntry& entry : entries) {
    MECHLENS_CHECK(CheckpointError, entry.begin == expected_begin,
                   "{}: tensor '{}' starts at byte {} of the data section, expected {} ({} the previous tensor)", path,
                   entry.name, entry.begin, expected_begin,
                   entry.begin < expected_begin ? "overlapping" : "leaving a gap after");
    expected_begin += entry.bytes;
  }
  MECHLENS_CHECK(CheckpointError, expected_begin == data_size,
                 "{}: the tensors end at byte {} of the data section, which has {} bytes (trailing data)", path,
                 expected_begin, data_size);
  return entries;
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in;
  const Header parsed = read_header(path, in);
  SafetensorsFile file;
  file.metadata = metadata_of(parsed.json, path);
  const uint64_t data_start = 8 + parsed.header_size;
  for (const TensorEntry& entry : checked_entries(parsed, path)) {
    torch::Tensor tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(entry.dtype));
    in.seekg(static_cast<std::streamoff>(data_start + entry.begin));
    in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(entry.bytes));
    MECHLENS_CHECK(CheckpointError, in.good(), "{}: reading tensor '{}' failed", path, entry.name);
    file.tensors.emplace_back(entry.name, std::move(tensor));
  }
  return file;
}

SafetensorsFile map_safetensors(const std::string& path) {
  std::ifstream in;
  const Header parsed = read_header(path, in);
  in.close();
  SafetensorsFile file;
  file.metadata = metadata_of(parsed.json, path);
  const std::vector<TensorEntry> entries = checked_entries(parsed, path);
  const std::shared_ptr<MappedFile> mapped = MappedFile::open(path);
  // The file may have changed between reading its header and mapping it.
  MECHLENS_CHECK(CheckpointError, mapped->size() == parsed.file_size, "{}: changed size while being read ({} -> {})",
                 path, parsed.file_size, mapped->size());
  const uint64_t data_start = 8 + parsed.header_size;
  for (const TensorEntry& entry : entries) {
    const uint64_t offset = data_start + entry.begin;
    // An element not aligned to its size cannot be a view; such (hand-written) files are copied.
    torch::Tensor tensor = offset % c10::elementSize(entry.dtype) == 0
                               ? MappedFile::view(mapped, offset, entry.dtype, entry.shape)
                               : torch::from_blob(const_cast<uint8_t*>(mapped->data()) + offset, entry.shape,
                                                  torch::TensorOptions().dtype(entry.dtype))
                                     .clone();
    file.tensors.emplace_back(entry.name, std::move(tensor));
  }
  return file;
}

}  // namespace mechlens
