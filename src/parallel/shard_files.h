// Where a shared run keeps its finished shards: files named PREFIX.IIIII-of-NNNNN.EXT in one folder
// (shard I of N). The engine's sweep shards and the store's record shards use the one scheme.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace mechlens {

/// "PREFIX.IIIII-of-NNNNN.EXT".
std::string shard_file_name(const std::string& prefix, int64_t shard, int64_t shards, const std::string& extension);

/// The shard count N of the files PREFIX.IIIII-of-NNNNN.EXT in `dir` (also EXT.partial when
/// `with_partial`), 0 when there are none or no folder; fills `paths` (shard -> path) if given.
/// Throws StoreError naming the folder when the files disagree on N.
int64_t find_shard_files(const std::string& dir, const std::string& prefix, const std::string& extension,
                         bool with_partial, std::map<int64_t, std::string>* paths = nullptr);

}  // namespace mechlens
