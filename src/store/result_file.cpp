#include "store/result_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>

#include "store/h5_util.h"
#include "util/error.h"
#include "util/output_file.h"

namespace mechlens {
namespace {

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace

void write_provenance(const H5::Group& object, const Provenance& provenance) {
  h5::write_attr(object, "mechlens_version", std::string(MECHLENS_VERSION));
  h5::write_attr(object, "created", utc_now());
  // The intra-op threads the results were computed with (--threads): timings in a result mean little without it.
  h5::write_attr(object, "threads", static_cast<int64_t>(at::get_num_threads()));
  if (!provenance.vocab.empty()) {
    h5::write_strings(object, "vocab", provenance.vocab);
    h5::write_attr(object.openDataSet("vocab"), "dims", std::string("token"));
  }
  const std::pair<const char*, const std::string*> fields[] = {
      {"checkpoint", &provenance.checkpoint},     {"checkpoint_sha256", &provenance.checkpoint_sha256},
      {"command_line", &provenance.command_line}, {"model_config", &provenance.model_config_json},
      {"input_sha256", &provenance.input_sha256}, {"task", &provenance.task_json},
      {"options", &provenance.options_json}};
  for (const auto& [name, value] : fields) {
    if (!value->empty()) h5::write_attr(object, name, *value);
  }
}

void write_result_file(const std::string& path, const std::string& format, int64_t format_version,
                       const std::function<void(H5::H5File&)>& fill) {
  h5::silence_errors();
  const OutputLock lock(path);
  const std::string partial = path + ".partial";
  auto remove_partial = [&] {
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
  };
  try {
    auto file = std::make_unique<H5::H5File>(partial, H5F_ACC_TRUNC);
    try {
      h5::write_attr(*file, "format", format);
      h5::write_attr(*file, "format_version", format_version);
      fill(*file);
      file->flush(H5F_SCOPE_GLOBAL);
    } catch (...) {
      h5::close_or_abandon(file);
      throw;
    }
    // An explicit close: a failed write surfaces here as an error, not as a destructor's message.
    MECHLENS_CHECK(StoreError, h5::close_or_abandon(file), "{}: cannot write results (disk full?)", path);
    sync_file(partial);
    std::error_code error;
    std::filesystem::rename(partial, path, error);
    MECHLENS_CHECK(StoreError, !error, "{}: cannot move the finished file into place: {}", path, error.message());
  } catch (const H5::Exception& error) {
    remove_partial();
    h5::rethrow(error, path, "cannot write results (disk full?)");
  } catch (...) {
    remove_partial();
    throw;
  }
}

void write_annotations(const H5::Group& prompts, const std::vector<std::pair<std::string, torch::Tensor>>& annotations,
                       const std::map<std::string, std::vector<std::string>>& dims) {
  H5::Group group = prompts.createGroup("annotations");
  for (const auto& [name, tensor] : annotations) {
    const auto named = dims.find(name);
    h5::write_tensor(group, name, tensor,
                     named != dims.end() && named->second.size() == size_t(tensor.dim()) ? named->second
                                                                                         : std::vector<std::string>{});
  }
}

}  // namespace mechlens
