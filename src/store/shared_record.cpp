#include "store/shared_record.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "parallel/shard_files.h"
#include "parallel/work_split.h"
#include "store/record_reader.h"
#include "store/record_writer.h"
#include "store/recorder.h"
#include "util/error.h"
#include "util/progress.h"

namespace mechlens {
namespace fs = std::filesystem;
namespace {

// Shard s of `count` holds the batches [s * batches / count, (s + 1) * batches / count).
struct RecordShard {
  int64_t index = 0, count = 0;
  int64_t begin = 0, end = 0;  // prompts
  std::string path;            // its record (PATH.partial while unfinished)
};

std::vector<RecordShard> cut_shards(int64_t n, int64_t batch_size, int64_t count, const std::string& dir) {
  const int64_t batches = (n + batch_size - 1) / batch_size;
  count = std::clamp<int64_t>(count, 1, std::max<int64_t>(batches, 1));
  std::vector<RecordShard> shards;
  for (int64_t s = 0; s < count; ++s) {
    RecordShard shard;
    shard.index = s;
    shard.count = count;
    shard.begin = std::min(n, s * batches / count * batch_size);
    shard.end = std::min(n, (s + 1) * batches / count * batch_size);
    shard.path = (fs::path(dir) / shard_file_name("record", s, count, "h5")).string();
    shards.push_back(shard);
  }
  return shards;
}

PromptSet slice(const PromptSet& prompts, int64_t begin, int64_t end) {
  PromptSet part;
  part.tokens = prompts.tokens.narrow(0, begin, end - begin);
  part.lengths = prompts.lengths.narrow(0, begin, end - begin);
  for (const auto& [name, tensor] : prompts.annotations)
    part.annotations.emplace_back(name, tensor.narrow(0, begin, end - begin));
  part.annotation_dims = prompts.annotation_dims;
  return part;
}

// A shard is a record of its prompts; its inputs name the rows it holds, so that a shard file
// cannot stand in for another.
RecordProvenance shard_provenance(const RecordProvenance& provenance, const RecordShard& shard) {
  RecordProvenance part = provenance;
  part.input_sha256 = fmt::format("{}:prompts[{}:{}]", provenance.input_sha256, shard.begin, shard.end);
  return part;
}

RecordSettings shard_settings(const RecordSettings& settings, const RecordShard& shard) {
  RecordSettings part = settings;
  if (settings.kept_positions.defined())
    part.kept_positions = settings.kept_positions.narrow(0, shard.begin, shard.end - shard.begin);
  return part;
}

// Whether the shard's record is finished; a finished record of another run is refused by name.
bool finished(const RecordShard& shard, const RecordSettings& settings, const RecordProvenance& provenance) {
  if (!fs::exists(shard.path)) return false;
  const RecordReader reader(shard.path);
  const std::string wanted =
      resume_key(shard_settings(settings, shard), shard_provenance(provenance, shard), shard.end - shard.begin);
  MECHLENS_CHECK(StoreError, reader.attribute("resume_key") == wanted,
                 "{} was recorded by another run (other checkpoint, prompts or settings); remove {} or record "
                 "without --resume",
                 shard.path, fs::path(shard.path).parent_path().string());
  return true;
}

// Rank 0 joins the finished shards into `out` through one writer, batch by batch.
void join_shards(const std::vector<RecordShard>& shards, const PromptSet& prompts, const RecordSettings& settings,
                 const RecordProvenance& provenance, const std::map<std::string, std::vector<std::string>>& dims,
                 const std::string& out, bool show_progress) {
  RecordWriter writer = RecordWriter::create(out, settings, provenance, dims, prompts.annotation_dims, prompts.size());
  ProgressBar progress("join", prompts.size(), show_progress);
  for (const RecordShard& shard : shards) {
    const RecordReader reader(shard.path);
    const int64_t rows = shard.end - shard.begin;
    MECHLENS_CHECK(StoreError, reader.n_examples() == rows, "{}: {} prompts recorded where {} were planned", shard.path,
                   reader.n_examples(), rows);
    for (int64_t start = 0; start < rows; start += settings.batch_size) {
      const int64_t count = std::min(settings.batch_size, rows - start);
      RecordBatch batch;
      batch.tokens = reader.read_tokens(start, count);
      batch.lengths = reader.read_lengths(start, count);
      batch.positions = reader.read_positions(start, count);
      for (const std::string& hook : settings.hooks)
        batch.acts.emplace_back(hook, reader.read_hook(hook, start, count));
      for (const auto& [name, tensor] : prompts.annotations)
        batch.annotations.emplace_back(name, reader.read_annotation(name, start, count));
      writer.append(batch);
      progress.advance(count);
    }
  }
  writer.finish();
  progress.finish();
}

}  // namespace

std::string record_shard_dir(const std::string& out) { return out + ".shards"; }

void record_shared(HookedTransformer& model, const PromptSet& prompts, const RecordSettings& settings,
                   const RecordProvenance& provenance, const std::map<std::string, std::vector<std::string>>& dims,
                   const std::string& out, Communicator& comm, const SharedRecordOptions& options) {
  const std::string dir = record_shard_dir(out);
  const auto start = std::chrono::steady_clock::now();
  const auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  if (comm.rank() == 0) {
    std::error_code error;
    if (!options.resume) fs::remove_all(dir, error);
    fs::create_directories(dir, error);
    MECHLENS_CHECK(InputError, fs::is_directory(dir), "{}: cannot create the shard folder ({})", dir, error.message());
  }
  comm.barrier();
  int64_t count = options.resume ? find_shard_files(dir, "record", "h5", /*with_partial=*/true) : 0;
  if (count == 0) count = std::max<int64_t>(1, options.shards_per_rank) * comm.size();
  const std::vector<RecordShard> shards = cut_shards(prompts.size(), settings.batch_size, count, dir);

  ProgressBar progress("record", prompts.size(), options.show_progress);
  std::vector<int64_t> pending;
  for (const RecordShard& shard : shards) {
    if (finished(shard, settings, provenance)) progress.advance(comm.rank() == 0 ? shard.end - shard.begin : 0);
    else pending.push_back(shard.index);
  }
  const auto rows_done = [&](int64_t rows) {
    if (comm.rank() == 0) progress.advance(rows + comm.collect_progress());
    else comm.report_progress(rows);
  };
  for (const int64_t index : deal_to_rank(pending, comm.rank(), comm.size())) {
    const RecordShard& shard = shards[size_t(index)];
    const RecordSettings part_settings = shard_settings(settings, shard);
    const RecordProvenance part_provenance = shard_provenance(provenance, shard);
    const PromptSet part = slice(prompts, shard.begin, shard.end);
    // An interrupted shard continues from its last complete batch, unless the interruption damaged
    // the file past repair (a rank killed inside an HDF5 write): then the shard is recorded anew.
    std::optional<RecordWriter> writer;
    if (options.resume && fs::exists(shard.path + kPartialSuffix)) {
      try {
        writer.emplace(
            RecordWriter::resume(shard.path, part_settings, part_provenance, dims, part.annotation_dims, part.size()));
      } catch (const StoreError& e) {
        fmt::print(stderr, "note: {}; recording this shard again\n", e.what());
      }
    }
    if (!writer) {
      writer.emplace(
          RecordWriter::create(shard.path, part_settings, part_provenance, dims, part.annotation_dims, part.size()));
    }
    rows_done(writer->n_written());
    record_activations(model, part, part_settings, *writer, rows_done);
    writer->finish();
  }
  const int64_t others = comm.finish_progress();  // rank 0: returns once every rank has finished
  if (comm.rank() != 0) return;
  progress.advance(others);
  progress.finish();
  const auto joining = std::chrono::steady_clock::now();
  join_shards(shards, prompts, settings, provenance, dims, out, options.show_progress);
  if (options.stats) {
    options.stats->join_seconds = seconds_since(joining);
    options.stats->record_seconds = std::chrono::duration<double>(joining - start).count();
  }
  std::error_code error;
  fs::remove_all(dir, error);
}

}  // namespace mechlens
