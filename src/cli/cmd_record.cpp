// `mechlens record`: stream the activations of chosen hooks over many prompts into an HDF5 record.
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/prompts.h"
#include "cli/task_input.h"
#include "core/selection.h"
#include "io/checkpoint.h"
#include "parallel/communicator.h"
#include "store/record_reader.h"
#include "store/recorder.h"
#include "store/shared_record.h"
#include "util/error.h"
#include "util/index_spec.h"
#include "util/parse.h"

namespace mechlens::cli {
namespace {

RecordSettings parse_settings(const po::variables_map& vm, const HookedTransformer& model) {
  RecordSettings settings;
  settings.hooks = model->resolve_hooks(vm["hooks"].as<std::vector<std::string>>());
  settings.positions = vm["positions"].as<std::string>();
  settings.heads = vm["heads"].as<std::string>();
  settings.batch_size = vm["batch"].as<int64_t>();
  if (settings.batch_size < 1) throw UsageError{"--batch must be at least 1"};
  const std::string dtype = vm["dtype"].as<std::string>();
  if (dtype == "f32" || dtype == "float32") settings.dtype = torch::kFloat32;
  else if (dtype == "f16" || dtype == "float16") settings.dtype = torch::kFloat16;
  else throw UsageError{"--dtype must be f32 or f16, got '" + dtype + "'"};
  const std::string compress = vm["compress"].as<std::string>();
  if (compress == "none") {
    settings.gzip_level = 0;
  } else if (compress == "gzip" || compress.rfind("gzip:", 0) == 0) {
    const std::optional<int64_t> level = compress == "gzip" ? 4 : parse_int(compress.substr(5));
    if (!level || *level < 1 || *level > 9) {
      throw UsageError{"--compress gzip level must be an integer 1..9, got '" + compress + "'"};
    }
    settings.gzip_level = int(*level);
  } else {
    throw UsageError{"--compress must be none, gzip or gzip:LEVEL, got '" + compress + "'"};
  }
  return settings;
}

}  // namespace

int run_record(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "checkpoint file (.safetensors); also the first argument")
      ("hooks", po::value<std::vector<std::string>>()->multitoken()->default_value({"blocks.*.attn.hook_pattern"},
                                                                                 "blocks.*.attn.hook_pattern"),
       "hooks to record: names, globs or shorthand")
      ("out", po::value<std::string>()->required(), "record to write (.h5)")
      ("batch", po::value<int64_t>()->default_value(32), "prompts per forward pass (bounds memory)")
      ("positions", po::value<std::string>()->default_value("all"),
       "positions to keep along pos/dest: all, 3, -1, 2:6, -5: (negative = from each prompt's end), or with --task "
       "its named spans of fixed width (e.g. query; spans = all)")
      ("heads", po::value<std::string>()->default_value("all"), "heads to keep along head dims: all, 0,2, 1:3")
      ("dtype", po::value<std::string>()->default_value("f32"), "storage dtype: f32 or f16 (IEEE half)")
      ("compress", po::value<std::string>()->default_value("none"), "none, or gzip[:LEVEL] with the shuffle filter")
      ("resume", po::bool_switch(), "continue OUT.partial from its last complete batch (a run shared by MPI ranks: from the shards in OUT.shards/)")
      ("pairs", po::bool_switch(), "with --task: store counterfactual prompts as annotations")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
  add_task_options(options);
  add_token_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options(
          "record",
          "--checkpoint CK (--tokens-file FILE | --tokens IDS... | --task NAME --n N --seed S) --out FILE.h5 "
          "[options]",
          "Run a checkpoint over prompts batch by batch and stream the selected hooks into an HDF5 "
          "record (schema: docs/RECORD_FORMAT.md). The file appears at --out only when complete.",
          options, {}, args, vm)) {
    return 0;
  }
  if (has_token_options(vm) == (vm.count("task") > 0))
    throw UsageError{"give the prompts with either --tokens-file FILE (or --tokens IDS) or --task NAME"};
  refuse_task_options_without_task(vm);
  const std::string checkpoint = vm["checkpoint"].as<std::string>();
  if (vm.count("task")) check_checkpoint_task(checkpoint, vm["task"].as<std::string>());
  const std::string out = vm["out"].as<std::string>();
  HookedTransformer model = load_model(checkpoint, vm);
  RecordSettings settings = parse_settings(vm, model);
  std::string task_json;
  PromptSet prompts;
  std::optional<std::vector<PositionSpan>> spans;  // a task's named prompt regions
  if (vm.count("task")) {
    TaskPrompts generated = generate_task_prompts(vm, vm["pairs"].as<bool>());
    task_json = generated.task->settings_json();
    spans = task_spans(*generated.task, generated.examples);
    prompts = std::move(generated.prompts);
  } else {
    prompts = prompts_from_options(vm);
  }
  // Validate every input before a file is created: ids, lengths, position and head selections.
  model->check_tokens(prompts.tokens);
  const PositionSelection positions =
      PositionSelection::parse(settings.positions, "--positions", spans ? &*spans : nullptr);
  if (!positions.is_all()) {
    const torch::Tensor lengths = prompts.lengths.to(torch::kLong).contiguous();
    settings.kept_positions = positions_tensor(positions.per_prompt(
        std::vector<int64_t>(lengths.data_ptr<int64_t>(), lengths.data_ptr<int64_t>() + lengths.numel())));
  }
  IndexSpec::parse(settings.heads, "--heads")
      .resolve(model->config().n_heads, fmt::format("{} heads", model->config().n_heads));

  RecordProvenance provenance;
  provenance.model_config_json = model->config().to_json().dump();
  provenance.checkpoint = checkpoint;
  provenance.checkpoint_sha256 = checkpoint_sha256(checkpoint);
  provenance.input_sha256 = prompt_set_sha256(prompts);
  provenance.command_line = fmt::format("mechlens record {}", fmt::join(args, " "));
  provenance.task_json = task_json;
  provenance.vocab = known_vocab(checkpoint, vm.count("task") ? vm["task"].as<std::string>() : "");

  // Under mpirun the ranks share the prompts (and a resumed shared record continues its shards,
  // with any number of ranks); otherwise one writer streams the whole record.
  Communicator& comm = world();
  const bool resume = vm["resume"].as<bool>();
  if (comm.size() > 1 || (resume && std::filesystem::is_directory(record_shard_dir(out)))) {
    SharedRecordOptions shared;
    shared.resume = resume;
    shared.show_progress = !vm["quiet"].as<bool>();
    record_shared(model, prompts, settings, provenance, recorded_dims(model, settings.hooks), out, comm, shared);
    fmt::print("recorded {} hooks over {} prompts to {} ({} ranks)\n", settings.hooks.size(), prompts.size(), out,
               comm.size());
    return 0;
  }
  const auto dims = recorded_dims(model, settings.hooks);
  RecordWriter writer =
      resume ? RecordWriter::resume(out, settings, provenance, dims, prompts.annotation_dims, prompts.size())
             : RecordWriter::create(out, settings, provenance, dims, prompts.annotation_dims, prompts.size());
  record_activations(model, prompts, settings, writer, !vm["quiet"].as<bool>());
  writer.finish();
  fmt::print("recorded {} hooks over {} prompts to {}\n", settings.hooks.size(), prompts.size(), out);
  return 0;
}

}  // namespace mechlens::cli
