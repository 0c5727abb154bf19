#include "engine/shared_plan.h"

#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/work_shards.h"
#include "parallel/shard_files.h"
#include "parallel/work_split.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/output_file.h"
#include "util/sha256.h"

namespace mechlens {
namespace fs = std::filesystem;
namespace {

constexpr const char* kShardMagic = "mechlens-shard 1\n";
using Clock = std::chrono::steady_clock;

// Adds the seconds since `start` to `total` and restarts the clock.
void lap(double& total, Clock::time_point& start) {
  const Clock::time_point now = Clock::now();
  total += std::chrono::duration<double>(now - start).count();
  start = now;
}

// Computed rows: where each row's values go in the tables, and the values (one per table).
struct Rows {
  std::vector<int64_t> where;  // [rows, 2]: site.flat, prompt
  std::vector<double> values;  // [rows, tables]
};

// Bytes: the row count and the tables, then `where` and `values` as they are in memory.
std::string to_bytes(const Rows& rows, int64_t tables) {
  const int64_t count = int64_t(rows.where.size() / 2);
  std::string bytes(2 * sizeof(int64_t), '\0');
  std::memcpy(bytes.data(), &count, sizeof(int64_t));
  std::memcpy(bytes.data() + sizeof(int64_t), &tables, sizeof(int64_t));
  bytes.append(reinterpret_cast<const char*>(rows.where.data()), rows.where.size() * sizeof(int64_t));
  bytes.append(reinterpret_cast<const char*>(rows.values.data()), rows.values.size() * sizeof(double));
  return bytes;
}

Rows from_bytes(const std::string& bytes, int64_t tables, const std::string& what) {
  int64_t count = -1, stored_tables = -1;
  if (bytes.size() >= 2 * sizeof(int64_t)) {
    std::memcpy(&count, bytes.data(), sizeof(int64_t));
    std::memcpy(&stored_tables, bytes.data() + sizeof(int64_t), sizeof(int64_t));
  }
  const size_t row_bytes = 2 * sizeof(int64_t) + size_t(tables) * sizeof(double);
  MECHLENS_CHECK(
      StoreError,
      stored_tables == tables && count >= 0 && bytes.size() == 2 * sizeof(int64_t) + size_t(count) * row_bytes,
      "{}: {} bytes are not rows of {} values", what, bytes.size(), tables);
  Rows rows;
  rows.where.resize(size_t(count) * 2);
  rows.values.resize(size_t(count) * size_t(tables));
  const char* data = bytes.data() + 2 * sizeof(int64_t);
  std::memcpy(rows.where.data(), data, rows.where.size() * sizeof(int64_t));
  std::memcpy(rows.values.data(), data + rows.where.size() * sizeof(int64_t), rows.values.size() * sizeof(double));
  return rows;
}

void fill_tables(const std::vector<torch::Tensor>& tables, const Rows& rows, const std::string& what) {
  const int64_t sites = tables.front().size(0), batch = tables.front().size(1);
  const size_t n_tables = tables.size();
  for (size_t r = 0; r < rows.where.size() / 2; ++r) {
    const int64_t flat = rows.where[2 * r], prompt = rows.where[2 * r + 1];
    MECHLENS_CHECK(StoreError, flat >= 0 && flat < sites && prompt >= 0 && prompt < batch,
                   "{}: row (site {}, prompt {}) lies outside the sweep's {} x {} results", what, flat, prompt, sites,
                   batch);
    for (size_t t = 0; t < n_tables; ++t) {
      const double value = rows.values[r * n_tables + t];
      const torch::Tensor& table = tables[t];
      if (table.scalar_type() == torch::kFloat64) table.data_ptr<double>()[flat * batch + prompt] = value;
      else table.data_ptr<float>()[flat * batch + prompt] = float(value);
    }
  }
}

// What a shard file says about itself; a file of another run or plan is refused by name.
struct ShardHeader {
  std::string run_key, plan;
  int64_t shard = 0, shards = 0, first_pack = 0, end_pack = 0;
};

void write_shard(const std::string& path, const ShardHeader& header, const Rows& rows, int64_t tables) {
  const std::string payload = to_bytes(rows, tables);
  const nlohmann::json json{{"run_key", header.run_key},
                            {"plan", header.plan},
                            {"shard", header.shard},
                            {"shards", header.shards},
                            {"packs", {header.first_pack, header.end_pack}},
                            {"rows", rows.where.size() / 2},
                            {"sha256", sha256_hex(payload)}};
  write_file_atomically(path, kShardMagic + json.dump() + "\n" + payload);
}

Rows read_shard(const std::string& path, const ShardHeader& expected, int64_t tables) {
  std::ifstream in(path, std::ios::binary);
  MECHLENS_CHECK(StoreError, in.good(), "{}: cannot open the saved shard", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  const size_t magic = std::strlen(kShardMagic);
  const size_t line_end = bytes.find('\n', magic);
  MECHLENS_CHECK(StoreError, bytes.compare(0, magic, kShardMagic) == 0 && line_end != std::string::npos,
                 "{}: not a mechlens shard file", path);
  const nlohmann::json json = parse_json_text<StoreError>(bytes.substr(magic, line_end - magic), path);
  const std::string payload = bytes.substr(line_end + 1);
  try {
    MECHLENS_CHECK(StoreError, json.at("run_key").get<std::string>() == expected.run_key,
                   "{} was saved by another run (other checkpoint, prompts or options); remove its folder or run "
                   "without --resume",
                   path);
    const std::vector<int64_t> packs = json.at("packs").get<std::vector<int64_t>>();
    MECHLENS_CHECK(StoreError,
                   json.at("plan").get<std::string>() == expected.plan &&
                       json.at("shard").get<int64_t>() == expected.shard &&
                       json.at("shards").get<int64_t>() == expected.shards && packs.size() == 2 &&
                       packs[0] == expected.first_pack && packs[1] == expected.end_pack,
                   "{}: shard {} of {} (packs {}..{}) was expected here; the file holds another part of the plan", path,
                   expected.shard, expected.shards, expected.first_pack, expected.end_pack);
    MECHLENS_CHECK(StoreError, json.at("sha256").get<std::string>() == sha256_hex(payload),
                   "{}: its rows do not match its checksum (damaged); remove it to recompute the shard", path);
  } catch (const nlohmann::json::exception& e) {
    throw StoreError(fmt::format("{}: shard header field missing or of the wrong type ({})", path, e.what()));
  }
  return from_bytes(payload, tables, path);
}

// Rank 0 prepares the shard folder: created, and a fresh run's stale shards of this plan removed.
void prepare_shard_dir(const PlanSharing& sharing, const std::string& plan) {
  std::error_code error;
  fs::create_directories(sharing.shard_dir, error);
  MECHLENS_CHECK(InputError, !error && fs::is_directory(sharing.shard_dir), "{}: cannot create the shard folder ({})",
                 sharing.shard_dir, error.message());
  if (sharing.resume) return;
  std::map<int64_t, std::string> stale;
  find_shard_files(sharing.shard_dir, plan, "shard", false, &stale);
  for (const auto& [shard, path] : stale) fs::remove(path, error);
}

}  // namespace

ExecutionCost plan_cost(const ModelConfig& config, const std::vector<Pack>& packs, int64_t n_pos) {
  ExecutionCost cost;
  for (const Pack& pack : packs) {
    const ExecutionCost one = pack_cost(config, pack, n_pos);
    cost.rows += one.rows;
    cost.flops += one.flops;
  }
  return cost;
}

void execute_plan_shared(HookedTransformer& model, const std::vector<Pack>& packs, const TargetRun& target,
                         const InstallInterventions& install, const ScoreRows& score,
                         const std::vector<torch::Tensor>& tables, const std::string& plan_name,
                         const PlanSharing& sharing, ProgressBar& progress) {
  MECHLENS_CHECK(InputError, !tables.empty(), "execute_plan_shared needs a table to fill");
  for (const torch::Tensor& table : tables) {
    MECHLENS_CHECK(InputError,
                   (table.scalar_type() == torch::kFloat64 || table.scalar_type() == torch::kFloat32) &&
                       table.dim() == 2 && table.is_contiguous() && table.device().is_cpu() &&
                       table.sizes() == tables.front().sizes(),
                   "execute_plan_shared fills contiguous float [sites, batch] tables of one shape on the CPU");
  }
  const int64_t n_tables = int64_t(tables.size());
  const std::unique_ptr<Communicator> alone = sharing.comm ? nullptr : make_single_process();
  Communicator& comm = sharing.comm ? *sharing.comm : *alone;
  const int64_t n_pos = target.tokens.size(1);
  const bool saving = !sharing.shard_dir.empty();

  // The cut: the saved shards' (when resuming), else shards_per_rank for every rank.
  int64_t count = std::max<int64_t>(1, sharing.shards_per_rank) * comm.size();
  std::map<int64_t, std::string> saved;
  if (saving) {
    if (comm.rank() == 0) prepare_shard_dir(sharing, plan_name);
    comm.barrier();
    if (sharing.resume) {
      const int64_t saved_count = find_shard_files(sharing.shard_dir, plan_name, "shard", false, &saved);
      if (saved_count > 0) count = saved_count;
    }
  }
  const std::vector<size_t> bounds = shard_bounds(packs, n_pos, count);
  const int64_t shards = int64_t(bounds.size()) - 1;
  auto header_of = [&](int64_t shard) {
    return ShardHeader{
        sharing.run_key, plan_name, shard, count, int64_t(bounds[size_t(shard)]), int64_t(bounds[size_t(shard) + 1])};
  };
  auto work_of = [&](int64_t shard) {
    int64_t work = 0;
    for (size_t p = bounds[size_t(shard)]; p < bounds[size_t(shard) + 1]; ++p) {
      work += int64_t(packs[p].rows.size()) * (n_pos - packs[p].first);
    }
    return work;
  };

  // Shards a previous run finished are read back (by every rank: each needs the whole table).
  std::vector<int64_t> pending;
  for (int64_t shard = 0; shard < shards; ++shard) {
    const auto found = saved.find(shard);
    if (found == saved.end()) {
      pending.push_back(shard);
      continue;
    }
    fill_tables(tables, read_shard(found->second, header_of(shard), n_tables), found->second);
    if (comm.rank() == 0) progress.advance(work_of(shard));
  }

  SharingStats local;
  SharingStats& stats = sharing.stats ? *sharing.stats : local;
  stats.shards_reused += int64_t(saved.size());
  Clock::time_point clock = Clock::now();

  // This rank's shards, saved one by one as they finish.
  Rows computed;
  for (const int64_t shard : deal_to_rank(pending, comm.rank(), comm.size())) {
    Rows rows;
    const ReadAnswers read = [&](const PackBatch& batch, const torch::Tensor& logits) {
      // [rows, tables] as float64 (exact for float32 values)
      const torch::Tensor values =
          score(batch, logits).to(torch::kCPU, torch::kFloat64).reshape({-1, n_tables}).contiguous();
      MECHLENS_CHECK(InputError, values.size(0) == int64_t(batch.prompts.size()),
                     "a pack's score gave {} rows of {} values for {} rows", values.size(0), n_tables,
                     batch.prompts.size());
      for (size_t r = 0; r < batch.prompts.size(); ++r) {
        rows.where.push_back(batch.flat_of_row[r]);
        rows.where.push_back(batch.prompts[r]);
      }
      rows.values.insert(rows.values.end(), values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
    };
    for (size_t p = bounds[size_t(shard)]; p < bounds[size_t(shard) + 1]; ++p) {
      const int64_t work = execute_pack(model, packs[p], target, install, read);
      if (comm.rank() == 0) progress.advance(work + comm.collect_progress());
      else comm.report_progress(work);
    }
    lap(stats.compute_seconds, clock);
    if (saving)
      write_shard((fs::path(sharing.shard_dir) / shard_file_name(plan_name, shard, count, "shard")).string(),
                  header_of(shard), rows, n_tables);
    lap(stats.save_seconds, clock);
    computed.where.insert(computed.where.end(), rows.where.begin(), rows.where.end());
    computed.values.insert(computed.values.end(), rows.values.begin(), rows.values.end());
    ++stats.shards_computed;
  }
  const int64_t others = comm.finish_progress();
  if (comm.rank() == 0) progress.advance(others);
  comm.barrier();
  lap(stats.wait_seconds, clock);

  // Every rank's rows, into every rank's table.
  const std::vector<std::string> parts = comm.all_gather(to_bytes(computed, n_tables));
  for (size_t r = 0; r < parts.size(); ++r) {
    const std::string what = fmt::format("rank {}", r);
    fill_tables(tables, from_bytes(parts[r], n_tables, what), what);
  }
  lap(stats.exchange_seconds, clock);
}

void remove_shards(const PlanSharing& sharing) {
  if (sharing.shard_dir.empty() || (sharing.comm && sharing.comm->rank() != 0)) return;
  std::error_code error;
  fs::remove_all(sharing.shard_dir, error);
}

}  // namespace mechlens
