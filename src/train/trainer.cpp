#include "train/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <set>

#include "io/checkpoint.h"
#include "train/legacy_state.h"
#include "train/optimizer_state.h"
#include "train/sequences.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/output_file.h"
#include "util/parse.h"
#include "util/progress.h"
#include "util/sha256.h"

namespace mechlens {
namespace {

std::string state_path(const std::string& out) { return out + ".state"; }

std::string metrics_json(const std::map<std::string, GroupMetrics>& metrics) {
  nlohmann::ordered_json json;
  for (const auto& [group, m] : metrics) {
    json[group] = {
        {"n", m.n}, {"loss", m.loss}, {"first_token_accuracy", m.first_token_accuracy}, {"exact_match", m.exact_match}};
  }
  return json.dump();
}

// The parameters the optimiser updates: all but those --freeze names (a parameter's own name, or a
// module path above it). The frozen ones stop requiring gradients while the guard lives, and get it
// back when it goes, also when training throws. Each name must select something; the names are
// checked before any parameter is touched.
class FrozenParameters {
 public:
  FrozenParameters(HookedTransformer& model, const std::vector<std::string>& names) {
    std::vector<bool> used(names.size(), false);
    std::vector<std::string> all;
    std::vector<torch::Tensor> selected;
    for (auto& item : model->named_parameters()) {
      all.push_back(item.key());
      bool freeze = false;
      for (size_t n = 0; n < names.size(); ++n) {
        if (item.key() == names[n] || item.key().rfind(names[n] + ".", 0) == 0) freeze = used[n] = true;
      }
      if (freeze) {
        selected.push_back(item.value());
      } else {
        trainable_.push_back(item.value());
        named_.emplace_back(item.key(), item.value());
      }
    }
    for (size_t n = 0; n < names.size(); ++n) {
      MECHLENS_CHECK(InputError, used[n],
                     "--freeze '{}': no parameter of this model has that name or lies under it ({})", names[n],
                     fmt::join(all, ", "));
    }
    MECHLENS_CHECK(InputError, !trainable_.empty(), "--freeze {}: leaves no parameter to train", fmt::join(names, ","));
    // Parameters that never required gradients (fixed noise matrices) are left as they are.
    for (torch::Tensor& parameter : selected) {
      if (!parameter.requires_grad()) continue;
      parameter.set_requires_grad(false);
      frozen_.push_back(parameter);
    }
  }
  ~FrozenParameters() {
    for (torch::Tensor& parameter : frozen_) parameter.set_requires_grad(true);
  }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

  const std::vector<torch::Tensor>& trainable() const { return trainable_; }
  const NamedParameters& trainable_named() const { return named_; }

 private:
  std::vector<torch::Tensor> trainable_;
  NamedParameters named_;
  std::vector<torch::Tensor> frozen_;
};

// Everything a resumed run must share with the run it continues: the data stream, the optimiser's
// settings and the task. A mismatch is refused by name, not silently trained on.
nlohmann::json resume_key(const Task& task, const TrainSettings& settings) {
  nlohmann::json key = {{"task", nlohmann::json::parse(task.settings_json())},
                        {"seed", settings.seed},
                        {"batch_size", settings.batch_size},
                        {"steps", settings.steps},
                        {"lr", settings.schedule.lr},
                        {"min_lr", settings.schedule.min_lr},
                        {"warmup_steps", settings.schedule.warmup_steps},
                        {"weight_decay", settings.weight_decay},
                        {"grad_clip", settings.grad_clip}};
  // Only when set, so optimiser states written before the option existed still resume.
  if (!settings.frozen.empty()) key["frozen"] = settings.frozen;
  return key;
}

// The optimiser state, tied to the checkpoint it continues: its step and the checkpoint's SHA-256.
// Written to `partial` only; write_pair renames it into place.
void save_state(const torch::optim::AdamW& optimizer, const NamedParameters& parameters, int64_t step,
                const std::string& checkpoint, const std::string& partial, const nlohmann::json& key) {
  const std::map<std::string, std::string> metadata = {
      {"step", std::to_string(step)}, {"checkpoint_sha256", sha256_file(checkpoint)}, {"resume_key", key.dump()}};
  try {
    write_optimizer_state(optimizer, parameters, metadata, partial);
    sync_file(partial);
  } catch (const c10::Error& e) {
    std::remove(partial.c_str());
    MECHLENS_FAIL(InputError, "{}: cannot write the optimiser state (disk full?): {}", partial,
                  e.what_without_backtrace());
  } catch (const Error&) {
    std::remove(partial.c_str());
    throw;
  }
}

// Checkpoint and optimiser state as one unit: both are written completely under temporary names
// first, then renamed. A failure while writing leaves the previous pair untouched; a kill between
// the two renames leaves OUT.state.partial matching the new OUT, which --resume completes.
void write_pair(const HookedTransformer& model, const torch::optim::AdamW& optimizer, const NamedParameters& parameters,
                int64_t step, const std::string& out, const std::map<std::string, std::string>& metadata,
                const nlohmann::json& key) {
  const std::string next = out + ".next";
  const std::string state_partial = state_path(out) + ".partial";
  save_checkpoint(model, next, metadata);
  try {
    save_state(optimizer, parameters, step, next, state_partial, key);
  } catch (...) {
    std::remove(next.c_str());
    throw;
  }
  std::filesystem::rename(next, out);
  std::filesystem::rename(state_partial, state_path(out));
}

// A state's header: what it continues (step, checkpoint hash, settings). States written before the
// named format are LibTorch archives (legacy_state.h); both are read.
std::map<std::string, std::string> read_state_header(const std::string& path, const torch::Device& device) {
  return is_named_optimizer_state(path) ? read_optimizer_state_metadata(path) : read_legacy_state_header(path, device);
}

int64_t load_state(torch::optim::AdamW& optimizer, const NamedParameters& parameters, const std::string& out,
                   const nlohmann::json& key, const torch::Device& device) {
  const std::string path = state_path(out), partial = path + ".partial";
  const std::string checkpoint_hash = sha256_file(out);
  std::map<std::string, std::string> header = read_state_header(path, device);
  if (header["checkpoint_sha256"] != checkpoint_hash && std::filesystem::exists(partial)) {
    // Killed between the two renames of write_pair: the new state is complete under its partial name.
    if (read_state_header(partial, device)["checkpoint_sha256"] == checkpoint_hash) {
      std::filesystem::rename(partial, path);
      header = read_state_header(path, device);
    }
  }
  MECHLENS_CHECK(InputError, header["checkpoint_sha256"] == checkpoint_hash,
                 "--resume: {} does not belong to the checkpoint {} (one of them was replaced); start the run again "
                 "without --resume",
                 path, out);
  const std::string& stored_key = header["resume_key"];
  const nlohmann::json stored =
      stored_key.empty() ? nlohmann::json() : parse_json_text<InputError>(stored_key, path + ": resume_key");
  if (!stored_key.empty() && stored != key) {
    const std::vector<std::string> differences = json_differences(stored, key, "run", "now");
    MECHLENS_FAIL(InputError, "--resume: {} was trained with other settings: {}", out, fmt::join(differences, "; "));
  }
  const std::optional<int64_t> step = parse_int(header["step"]);
  MECHLENS_CHECK(InputError, step && *step >= 0, "{}: field 'step' is '{}', expected a step count", path,
                 header["step"]);
  if (is_named_optimizer_state(path)) load_optimizer_state(optimizer, parameters, path);
  else load_legacy_state(optimizer, path, device);
  return *step;
}

// A run killed after logging a row but before its next checkpoint resumes from that checkpoint and
// logs those steps again: rows past the resumed step are dropped first (rewritten atomically).
void drop_log_rows_after(const std::string& path, int64_t step, const std::string& header) {
  std::ifstream in(path);
  MECHLENS_CHECK(InputError, in.good(), "{}: cannot read training log", path);
  // The header is the run's own (the resume key fixes its columns); a log killed before it reached
  // the disk (empty, or rows only) gets it back.
  std::string kept = header + "\n", line;
  while (std::getline(in, line)) {
    if (line.rfind("step,", 0) == 0) continue;
    const std::optional<int64_t> row_step = parse_int(line.substr(0, line.find(',')));
    if (row_step && *row_step <= step) kept += line + "\n";
  }
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::trunc);
    out << kept;
    out.close();
    MECHLENS_CHECK(InputError, !out.fail(), "{}: cannot rewrite training log (disk full?)", partial);
  }
  std::filesystem::rename(partial, path);
}

// The header line of an existing training log ("" when it has none yet).
std::string read_log_header(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line.rfind("step,", 0) != 0) return "";
  return line;
}

}  // namespace

TrainResult train(HookedTransformer& model, const Task& task, const std::vector<Example>& eval_examples,
                  const TrainSettings& settings) {
  MECHLENS_CHECK(InputError, model->config().d_vocab >= task.vocab_size(),
                 "model d_vocab={} is smaller than the {} task's vocabulary of {}", model->config().d_vocab,
                 task.name(), task.vocab_size());
  MECHLENS_CHECK(InputError, model->config().n_ctx >= task.max_sequence_length(),
                 "model n_ctx={} is shorter than the {} task's sequences of up to {} tokens", model->config().n_ctx,
                 task.name(), task.max_sequence_length());
  MECHLENS_CHECK(InputError, !settings.out.empty(), "training needs an output checkpoint path");

  // The optimiser's state is created beside the parameters, so the model moves first.
  if (model->device() != settings.device) model->to(settings.device);
  const FrozenParameters parameters(model, settings.frozen);
  torch::optim::AdamW optimizer(parameters.trainable(),
                                torch::optim::AdamWOptions(settings.schedule.lr).weight_decay(settings.weight_decay));
  int64_t start_step = 0;
  if (settings.resume) {
    MECHLENS_CHECK(InputError, std::filesystem::exists(state_path(settings.out)),
                   "--resume: {} does not exist (no interrupted run to continue)", state_path(settings.out));
    HookedTransformer saved = load_checkpoint(settings.out);
    MECHLENS_CHECK(InputError, saved->config() == model->config(), "--resume: {} was trained with another model config",
                   settings.out);
    start_step =
        load_state(optimizer, parameters.trainable_named(), settings.out, resume_key(task, settings), settings.device);
    torch::NoGradGuard no_grad;
    auto target = model->named_parameters();
    for (const auto& item : saved->named_parameters()) target[item.key()].copy_(item.value());
  }

  // Log columns: one set per evaluation group (the groups present in the evaluation examples).
  std::vector<std::string> log_groups;
  const auto header_of = [&](const std::vector<std::string>& groups) {
    std::string header = "step,lr,train_loss";
    for (const auto& group : groups) header += fmt::format(",{0}_loss,{0}_first_token_acc,{0}_exact_match", group);
    for (const auto& name : settings.extra_metrics.names) header += "," + name;
    return header;
  };
  {
    std::set<std::string> groups;
    for (const auto& e : eval_examples) {
      for (const auto& group : example_groups(e)) groups.insert(group);
    }
    log_groups.assign(groups.begin(), groups.end());
  }
  std::string log_header = header_of(log_groups);
  // A resumed run keeps its log's columns: evaluation groups a newer version adds (e.g. the matching
  // task's ood_decoy split) are evaluated but not logged, so every row matches the header.
  const std::string logged_header =
      settings.resume && !settings.log_path.empty() && std::filesystem::exists(settings.log_path)
          ? read_log_header(settings.log_path)
          : "";
  if (!logged_header.empty() && logged_header != log_header) {
    const std::vector<std::string> columns = split_list(logged_header, ',');
    const std::set<std::string> present(columns.begin(), columns.end());
    std::vector<std::string> kept;
    for (const auto& group : log_groups) {
      if (present.count(group + "_loss")) kept.push_back(group);
    }
    log_groups = kept;
    log_header = header_of(log_groups);
    MECHLENS_CHECK(InputError, logged_header == log_header,
                   "--resume: {} has the columns\n  {}\nbut this run logs\n  {}\n(other evaluation groups or "
                   "metrics); continue it with the settings that started it, or start again without --resume",
                   settings.log_path, logged_header, log_header);
  }
  std::ofstream log;
  if (!settings.log_path.empty()) {
    const bool append = settings.resume && std::filesystem::exists(settings.log_path);
    if (append) drop_log_rows_after(settings.log_path, start_step, log_header);
    log.open(settings.log_path, append ? std::ios::app : std::ios::trunc);
    MECHLENS_CHECK(InputError, log.good(), "{}: cannot open training log", settings.log_path);
    // Flushed at once, as every row is: a run killed before its first evaluation keeps a log with
    // its header, which a resumed run appends to.
    if (!append) log << log_header << "\n" << std::flush;
  }

  auto write_checkpoint = [&](int64_t step, const std::map<std::string, GroupMetrics>& metrics) {
    std::map<std::string, std::string> metadata = settings.metadata;
    metadata["train_steps"] = std::to_string(step);
    if (!metrics.empty()) metadata["eval_metrics"] = metrics_json(metrics);
    write_pair(model, optimizer, parameters.trainable_named(), step, settings.out, metadata,
               resume_key(task, settings));
  };

  model->train();
  TrainResult result;
  const int64_t end_step =
      settings.stop_after >= 0 ? std::min(settings.steps, start_step + settings.stop_after) : settings.steps;
  ProgressBar progress(settings.progress_label, end_step - start_step, settings.show_progress);
  const auto started = std::chrono::steady_clock::now();
  int64_t tokens_seen = 0;
  std::map<std::string, GroupMetrics> metrics;
  // Examples depend only on (seed, step), so the next batch is built on another thread while this
  // step computes; the stream is the same as built in line.
  auto build_batch = [&task, &settings](int64_t step) {
    return make_training_batch(generate_examples(task, settings.batch_size, settings.seed, step * settings.batch_size));
  };
  std::future<TrainingBatch> next_batch;
  if (start_step < end_step) next_batch = std::async(std::launch::async, build_batch, start_step);
  for (int64_t step = start_step; step < end_step; ++step) {
    const double lr = settings.schedule.at(step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    const TrainingBatch batch = next_batch.get();
    if (step + 1 < end_step) next_batch = std::async(std::launch::async, build_batch, step + 1);
    // The last layer and the unembedding run only where the loss reads them.
    ForwardOptions forward_options;
    forward_options.logits_at = batch.loss_positions;
    // The last token predicts nothing the loss reads and no loss position attends to it.
    const int64_t needed = batch.loss_positions.max().item<int64_t>() + 1;
    const torch::Tensor logits =
        model->forward(batch.tokens.narrow(1, 0, needed), forward_options);  // [batch, n, d_vocab]
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), batch.loss_targets.reshape({-1}).to(logits.device()),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreTarget));
    optimizer.zero_grad();
    loss.backward();
    if (settings.grad_clip > 0) torch::nn::utils::clip_grad_norm_(parameters.trainable(), settings.grad_clip);
    optimizer.step();
    tokens_seen += batch.tokens.numel();
    const double loss_value = loss.item<double>();

    const bool last = step + 1 == settings.steps;
    const bool eval_now = last || (settings.eval_every > 0 && (step + 1) % settings.eval_every == 0);
    if (eval_now) {
      metrics = evaluate(model, eval_examples);
      if (log.is_open()) {
        log << fmt::format("{},{:.6g},{:.6g}", step + 1, lr, loss_value);
        for (const auto& group : log_groups) {
          const GroupMetrics& m = metrics[group];
          log << fmt::format(",{:.6g},{:.6g},{:.6g}", m.loss, m.first_token_accuracy, m.exact_match);
        }
        if (settings.extra_metrics.compute) {
          torch::NoGradGuard no_grad;
          const std::vector<double> values = settings.extra_metrics.compute(model);
          MECHLENS_CHECK(InputError, values.size() == settings.extra_metrics.names.size(),
                         "extra training metrics: {} values for {} columns", values.size(),
                         settings.extra_metrics.names.size());
          for (double value : values) log << fmt::format(",{:.6g}", value);
        }
        log << "\n";
        log.flush();
      }
    }
    if (last || step + 1 == end_step ||
        (settings.checkpoint_every > 0 && (step + 1) % settings.checkpoint_every == 0)) {
      write_checkpoint(step + 1, metrics);
    }
    const auto all = metrics.find("all");
    progress.advance(1, all == metrics.end()
                            ? fmt::format("loss {:.4f}", loss_value)
                            : fmt::format("loss {:.4f} eval exact {:.3f}", loss_value, all->second.exact_match));
    if (settings.on_step) settings.on_step();
  }
  progress.finish();
  result.steps_done = end_step - start_step;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.tokens_per_second = result.seconds > 0 ? static_cast<double>(tokens_seen) / result.seconds : 0.0;
  result.final_metrics = metrics.empty() ? evaluate(model, eval_examples) : metrics;
  return result;
}

}  // namespace mechlens
