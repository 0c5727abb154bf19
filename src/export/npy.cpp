#include "export/npy.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "util/output_file.h"

namespace mechlens {

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  const bool integer = !at::isFloatingType(tensor.scalar_type());
  const torch::Tensor data = tensor.to(torch::kCPU, integer ? torch::kLong : torch::kFloat32).contiguous();
  std::string shape;
  for (int64_t size : data.sizes()) shape += fmt::format("{}, ", size);
  if (data.dim() > 1) shape.resize(shape.size() - 2);  // (3,) for one axis, (3, 4) for more
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", integer ? "<i8" : "<f4", shape);
  // Magic (6) + version (2) + header length (2) + header, padded with spaces and ending in a newline
  // to a multiple of 64 bytes (the format's alignment).
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes.push_back(char(header.size() & 0xff));
  bytes.push_back(char((header.size() >> 8) & 0xff));
  bytes += header;
  bytes.append(static_cast<const char*>(data.data_ptr()), size_t(data.numel()) * data.element_size());
  write_file_atomically(path, bytes);
}

}  // namespace mechlens
