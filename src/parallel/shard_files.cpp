#include "parallel/shard_files.h"

#include <fmt/format.h>

#include <filesystem>
#include <regex>

#include "util/error.h"

namespace mechlens {

std::string shard_file_name(const std::string& prefix, int64_t shard, int64_t shards, const std::string& extension) {
  return fmt::format("{}.{:05}-of-{:05}.{}", prefix, shard, shards, extension);
}

int64_t find_shard_files(const std::string& dir, const std::string& prefix, const std::string& extension,
                         bool with_partial, std::map<int64_t, std::string>* paths) {
  const std::regex pattern(R"((.+)\.(\d{5})-of-(\d{5})\.)" + extension + (with_partial ? R"((\.partial)?)" : ""));
  int64_t count = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, pattern) || match[1].str() != prefix) continue;
    const int64_t shards = std::stoll(match[3].str());
    MECHLENS_CHECK(StoreError, count == 0 || count == shards,
                   "{}: shards of '{}' cut into {} and into {} parts; remove the folder and run again", dir, prefix,
                   count, shards);
    count = shards;
    if (paths) (*paths)[std::stoll(match[2].str())] = entry.path().string();
  }
  return count;
}

}  // namespace mechlens
