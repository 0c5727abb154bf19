// A file memory-mapped for reading weights without copying them: tensors are views of the mapping
// (the pages are read from disk when first touched and count once, as the file's), kept alive by
// the tensors that use them. The mapping is private and writable, so writing a weight in place
// (weight processing, training) copies only the pages it changes and never touches the file.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mechlens {

class MappedFile {
 public:
  /// Maps the whole file; throws CheckpointError naming it when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint64_t size() const { return size_; }
  const uint8_t* data() const { return data_; }

  /// A tensor over bytes [offset, offset + numel * element size) of the file, sharing the mapping
  /// (which lives as long as any such tensor does). The caller has checked the range.
  static torch::Tensor view(const std::shared_ptr<MappedFile>& file, uint64_t offset, torch::ScalarType dtype,
                            const std::vector<int64_t>& shape);

 private:
  MappedFile(uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

/// Whether `tensor`'s storage is a view of a mapped file (MappedFile::view).
bool is_mapped_view(const torch::Tensor& tensor);

/// After a mapped view was copied into a weight of another dtype or layout, gives its pages back:
/// they leave the process's resident memory (the file still holds them), so loading a model peaks
/// near its size rather than file + model. Does nothing for tensors that are not mapped views.
void release_mapped_pages(const torch::Tensor& view);

}  // namespace mechlens
