#include "train/legacy_state.h"

#include "util/error.h"

namespace mechlens {
namespace {

torch::serialize::InputArchive read_archive(const std::string& path, const torch::Device& device) {
  torch::serialize::InputArchive archive;
  try {
    // The optimiser's moments load where the parameters now are, whatever device wrote them.
    archive.load_from(path, device);
  } catch (const c10::Error&) {
    MECHLENS_FAIL(InputError,
                  "{}: not a readable optimiser state (damaged or truncated); start the run again "
                  "without --resume",
                  path);
  }
  return archive;
}

std::string read_text(torch::serialize::InputArchive& archive, const char* key) {
  torch::Tensor bytes;
  if (!archive.try_read(key, bytes)) return "";
  bytes = bytes.to(torch::kCPU).contiguous();
  return std::string(static_cast<const char*>(bytes.data_ptr()), size_t(bytes.numel()));
}

}  // namespace

std::map<std::string, std::string> read_legacy_state_header(const std::string& path, const torch::Device& device) {
  torch::serialize::InputArchive archive = read_archive(path, device);
  std::map<std::string, std::string> header = {{"checkpoint_sha256", read_text(archive, "checkpoint_sha256")},
                                               {"resume_key", read_text(archive, "resume_key")}};
  torch::Tensor step;
  if (archive.try_read("step", step)) header["step"] = std::to_string(step.item<int64_t>());
  return header;
}

void load_legacy_state(torch::optim::AdamW& optimizer, const std::string& path, const torch::Device& device) {
  torch::serialize::InputArchive archive = read_archive(path, device);
  try {
    optimizer.load(archive);
  } catch (const c10::Error&) {
    MECHLENS_FAIL(InputError, "{}: the optimiser state does not fit this model's parameters", path);
  }
}

}  // namespace mechlens
