// A record shared between the ranks of a run (parallel/communicator.h): the prompts are cut at
// batch boundaries into shards, each rank records its shards as records of their own in
// OUT.shards/ (each resumable like any record), and rank 0 joins them, in order and through the
// same writer, into OUT. Every batch is the batch a single process would run, so the joined record
// equals the single-process one value for value. A killed run leaves OUT.shards/ and no OUT;
// `resume` reuses the shards that finished and continues the interrupted ones.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "runtime/model.h"
#include "store/record_schema.h"
#include "util/prompt_set.h"

namespace mechlens {

/// Where a shared record's time went on rank 0.
struct SharedRecordStats {
  double record_seconds = 0;  // recording shards, until every rank had finished
  double join_seconds = 0;    // joining the shards into the output
};

struct SharedRecordOptions {
  bool resume = false;
  bool show_progress = true;
  int64_t shards_per_rank = 4;
  SharedRecordStats* stats = nullptr;  // if set, receives rank 0's timings
};

/// The folder beside `out` where a shared record keeps its shards.
std::string record_shard_dir(const std::string& out);

/// Records `prompts` into `out` as record_activations() would, with the work shared by the ranks
/// of `comm`. Every rank calls it; rank 0 writes `out`.
void record_shared(HookedTransformer& model, const PromptSet& prompts, const RecordSettings& settings,
                   const RecordProvenance& provenance, const std::map<std::string, std::vector<std::string>>& dims,
                   const std::string& out, Communicator& comm, const SharedRecordOptions& options);

}  // namespace mechlens
