#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <torch/torch.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace mechlens {
namespace {

// The owning mapping of each view, found again by release_mapped_pages through the deleter context.
struct ViewContext {
  std::shared_ptr<MappedFile> file;
};

void delete_view_context(void* context) { delete static_cast<ViewContext*>(context); }

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MECHLENS_CHECK(CheckpointError, fd >= 0, "{}: cannot open file: {}", path, std::strerror(errno));
  const off_t end = ::lseek(fd, 0, SEEK_END);
  if (end < 0) {
    const int error = errno;
    ::close(fd);
    MECHLENS_FAIL(CheckpointError, "{}: cannot read its size: {}", path, std::strerror(error));
  }
  const uint64_t size = static_cast<uint64_t>(end);
  if (size == 0) {
    ::close(fd);
    return std::shared_ptr<MappedFile>(new MappedFile(nullptr, 0));
  }
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int error = errno;
  ::close(fd);  // the mapping keeps the file's pages reachable
  MECHLENS_CHECK(CheckpointError, data != MAP_FAILED, "{}: cannot map {} bytes: {}", path, size, std::strerror(error));
  return std::shared_ptr<MappedFile>(new MappedFile(static_cast<uint8_t*>(data), size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

torch::Tensor MappedFile::view(const std::shared_ptr<MappedFile>& file, uint64_t offset, torch::ScalarType dtype,
                               const std::vector<int64_t>& shape) {
  auto* context = new ViewContext{file};
  uint64_t bytes = c10::elementSize(dtype);
  for (int64_t dim : shape) bytes *= uint64_t(dim);
  // A DataPtr whose context owns a reference to the mapping: the storage keeps the file mapped.
  c10::DataPtr data_ptr(file->data_ + offset, context, delete_view_context, c10::Device(c10::kCPU));
  c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(data_ptr), /*allocator=*/nullptr,
                       /*resizable=*/false);
  return torch::empty({0}, torch::TensorOptions().dtype(dtype)).set_(storage, 0, shape);
}

bool is_mapped_view(const torch::Tensor& tensor) {
  return tensor.defined() && tensor.has_storage() && tensor.storage().data_ptr().get_deleter() == &delete_view_context;
}

void release_mapped_pages(const torch::Tensor& view) {
  if (!is_mapped_view(view)) return;
  const c10::DataPtr& data_ptr = view.storage().data_ptr();
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uint64_t>(data_ptr.get());
  const uint64_t end = begin + view.storage().nbytes();
  // Only pages the view covers entirely: a neighbour's bytes may share the first and last page.
  const uint64_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace mechlens
