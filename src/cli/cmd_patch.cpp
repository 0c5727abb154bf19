// `mechlens patch`: activation patching sweeps (and ablations, attribution patching, a circuit's
// sufficiency check) on a checkpoint, written to HDF5 with a terminal summary of the top components.
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/plan_sharing.h"
#include "cli/prompts.h"
#include "cli/provenance.h"
#include "cli/task_input.h"
#include "core/grouping.h"
#include "core/selection.h"
#include "io/checkpoint.h"
#include "patching/circuit.h"
#include "patching/patch_file.h"
#include "patching/patching.h"
#include "patching/split_patching.h"
#include "tasks/logic_task.h"
#include "util/error.h"
#include "util/index_spec.h"
#include "util/output_file.h"

namespace mechlens::cli {
namespace {

torch::Tensor load_equal_length(const std::string& path) {
  return equal_length_tokens(load_prompt_set(path), path, "patching");
}

// "correct wrong" token pairs, one line per prompt.
std::pair<torch::Tensor, torch::Tensor> load_answers(const std::string& path, int64_t batch, int64_t d_vocab) {
  std::vector<int64_t> correct, wrong;
  for (const Prompt& line : read_answer_file(path, batch, 2, 2, d_vocab)) {
    correct.push_back(line[0]);
    wrong.push_back(line[1]);
  }
  return {torch::tensor(correct, torch::kLong), torch::tensor(wrong, torch::kLong)};
}

// Task prompts with their counterfactual pairs; `contents` also takes the task's annotations, data
// groups and token strings for the result file.
PatchingInputs inputs_from_task(const po::variables_map& vm, std::vector<PositionSpan>& spans,
                                PatchFileContents& contents) {
  // --pairs KIND chooses the logic task's counterfactual (the task option counterfactual=KIND).
  const std::string pairs = vm.count("pairs") ? vm["pairs"].as<std::string>() : "";
  std::vector<std::string> extra;
  if (!pairs.empty() && vm["task"].as<std::string>() == "logic") {
    try {
      parse_logic_counterfactual(pairs);
    } catch (const InputError&) {
      throw UsageError{
          fmt::format("task 'logic' makes 'query-flip', 'fact-flip', 'rule-order', 'disjunct-order' or 'distractor' "
                      "pairs, not '{}'",
                      pairs)};
    }
    extra.push_back("counterfactual=" + pairs);
  }
  TaskPrompts generated = generate_task_prompts(vm, /*pairs=*/true, extra);
  spans = task_spans(*generated.task, generated.examples);
  if (!pairs.empty() && pairs != generated.task->counterfactual_kind()) {
    throw UsageError{fmt::format("task '{}' makes '{}' pairs, not '{}'", generated.task->name(),
                                 generated.task->counterfactual_kind(), pairs)};
  }
  const PromptSet& prompts = generated.prompts;
  for (const auto& [name, tensor] : prompts.annotations) {
    if (name != "corrupt_tokens") contents.annotations.emplace_back(name, tensor);
  }
  contents.annotation_dims = prompts.annotation_dims;
  for (const Example& example : generated.examples) contents.prompt_groups.push_back(example.group);
  return task_pair_inputs(generated);
}

// Prompt files; a record given as --clean also lends its annotations to `contents`.
PatchingInputs inputs_from_files(const po::variables_map& vm, HookedTransformer& model, PatchFileContents& contents) {
  PatchingInputs inputs;
  const std::string clean_path = vm["clean"].as<std::string>(), corrupted_path = vm["corrupted"].as<std::string>();
  const PromptSet clean = load_prompt_set(clean_path);
  inputs.clean = equal_length_tokens(clean, clean_path, "patching");
  contents.annotations = clean.annotations;
  contents.annotation_dims = clean.annotation_dims;
  inputs.corrupted = load_equal_length(corrupted_path);
  MECHLENS_CHECK(InputError, inputs.corrupted.sizes() == inputs.clean.sizes(),
                 "{} holds {} prompts of {} tokens but {} holds {} of {}: clean and corrupted prompts must pair up",
                 clean_path, inputs.clean.size(0), inputs.clean.size(1), corrupted_path, inputs.corrupted.size(0),
                 inputs.corrupted.size(1));
  model->check_tokens(inputs.clean);
  model->check_tokens(inputs.corrupted);
  const int64_t batch = inputs.clean.size(0), n_pos = inputs.clean.size(1);
  int64_t answer_pos = vm["answer-pos"].as<int64_t>();
  if (answer_pos < 0) answer_pos += n_pos;
  MECHLENS_CHECK(InputError, answer_pos >= 0 && answer_pos < n_pos, "--answer-pos {} is outside the {} prompt tokens",
                 vm["answer-pos"].as<int64_t>(), n_pos);
  inputs.answer_pos = torch::full({batch}, answer_pos, torch::kLong);
  if (!model->config().has_unembed) {
    // An encoder without a head has no answer tokens; the cosine metric reads the whole output.
    if (vm.count("answers"))
      throw UsageError{"--answers: this model has no unembedding (an encoder), so no answer tokens"};
  } else if (vm.count("answers")) {
    std::tie(inputs.correct, inputs.wrong) =
        load_answers(vm["answers"].as<std::string>(), batch, model->config().d_vocab);
  }
  // Otherwise correct and wrong stay undefined: the patching set-up fills in each run's own top token.
  return inputs;
}

// Usage rules of `mechlens patch`: one prompt source, and no option that this mode would ignore.
void check_patch_usage(const po::variables_map& vm, bool from_task) {
  refuse_task_options_without_task(vm, /*seed_used_elsewhere=*/true);  // --seed also seeds resample ablation
  if (from_task && !vm["answer-pos"].defaulted()) {
    throw UsageError{
        "--answer-pos applies to --clean/--corrupted files; a task's prompts end at their answer position"};
  }
  if (from_task == (vm.count("clean") + vm.count("corrupted") > 0)) {
    throw UsageError{"give the prompts with either --clean F --corrupted F or --task NAME"};
  }
  if (!from_task && !(vm.count("clean") && vm.count("corrupted"))) throw UsageError{"--clean needs --corrupted"};
  if (vm["batch"].as<int64_t>() < 1) throw UsageError{"--batch must be at least 1"};
  if (vm["top"].as<int64_t>() < 0) throw UsageError{"--top must be >= 0"};
  if (vm["split-prompts"].as<int64_t>() < 1) throw UsageError{"--split-prompts must be at least 1"};
  if (vm["split-prompts"].as<int64_t>() > 1 && vm.count("clean-record")) {
    throw UsageError{"--clean-record holds the whole batch's clean activations; give it without --split-prompts"};
  }
}

// What to sweep: direction, ablation, batch, positions (numbers or the task's named spans), layers.
PatchOptions patch_options_from(const po::variables_map& vm, const ModelConfig& config,
                                const std::vector<Component>& components, const PatchingInputs& inputs,
                                const std::vector<PositionSpan>& spans, bool from_task) {
  PatchOptions options;
  options.direction = parse_direction(vm["direction"].as<std::string>());
  options.ablation = parse_ablation(vm["ablation"].as<std::string>());
  options.max_batch = vm["batch"].as<int64_t>();
  options.seed = static_cast<uint64_t>(vm["seed"].as<int64_t>());
  options.progress = !vm["quiet"].as<bool>();
  const int64_t n_pos = inputs.positions();
  const std::string positions = vm["positions"].as<std::string>();
  const bool all_position_components =
      std::all_of(components.begin(), components.end(), [](const Component& c) { return c.all_positions; });
  if (all_position_components && !vm["positions"].defaulted()) {
    throw UsageError{
        fmt::format("--positions {}: component '{}' patches every position at once; drop --positions "
                    "or choose a by-position component (e.g. head_z)",
                    positions, vm["component"].as<std::string>())};
  }
  const PositionSelection selection = PositionSelection::parse(positions, "--positions", from_task ? &spans : nullptr);
  if (selection.named()) {
    options.spans = selection.spans();
  } else {
    options.positions = selection.indices().resolve(n_pos, fmt::format("the prompts ({} tokens)", n_pos));
  }
  options.layers = IndexSpec::parse(vm["layers"].as<std::string>(), "--layers")
                       .resolve(config.n_layers, fmt::format("the model ({} layers)", config.n_layers));
  return options;
}

// What each position is in every clean prompt, for the summary: the narrowest task span holding it,
// else its token when every prompt has the same one there ("'Answer:'"), else "".
std::vector<std::string> clean_position_roles(const std::vector<PositionSpan>& spans, const torch::Tensor& clean,
                                              const std::vector<std::string>& vocab) {
  std::vector<std::string> roles = position_roles(spans, clean.size(1));
  const torch::Tensor same = clean.eq(clean[0].unsqueeze(0)).all(0);  // [pos]
  for (int64_t p = 0; p < clean.size(1); ++p) {
    const int64_t token = clean[0][p].item<int64_t>();
    if (roles[size_t(p)].empty() && same[p].item<bool>() && token >= 0 && token < int64_t(vocab.size())) {
      roles[size_t(p)] = fmt::format("'{}'", vocab[size_t(token)]);
    }
  }
  return roles;
}

// One component's sweep with its optional attribution estimate and its split by --group-by.
PatchRecord make_record(PatchResult exact, std::optional<PatchResult> attribution,
                        const std::optional<PromptGroups>& groups, const torch::Tensor& clean_per_prompt,
                        const torch::Tensor& corrupted_per_prompt, const std::vector<std::string>& roles) {
  PatchRecord record{std::move(exact), std::move(attribution), 0.0, std::nullopt};
  record.exact.position_roles = roles;
  if (groups) record.grouped = group_patch_result(record.exact, *groups, clean_per_prompt, corrupted_per_prompt);
  if (record.attribution) {
    record.attribution->position_roles = roles;
    record.attribution_correlation = correlation(record.attribution->normalised, record.exact.normalised);
  }
  return record;
}

// The terminal summary: each sweep's top components, then the circuit check.
void print_summary(const std::vector<PatchRecord>& records, const std::optional<CircuitReport>& circuit,
                   MetricKind metric, int64_t top, std::FILE* human) {
  for (const PatchRecord& record : records) {
    fmt::print(human, "{} ({}, {}, ablation {}), top by |score|:\n{}", record.exact.component.name(),
               direction_name(record.exact.direction), fmt::join(record.exact.dims, " x "),
               ablation_name(record.exact.ablation), top_components(record.exact, top));
    if (record.attribution) {
      fmt::print(human, "  attribution patching vs exact: Pearson r = {:.4f}\n", record.attribution_correlation);
    }
    if (record.grouped) fmt::print(human, "{}", top_components_by_group(record.exact, *record.grouped, top));
  }
  if (!circuit) return;
  fmt::print(human, "circuit check (share of the clean-corrupted {} recovered on the clean prompts):\n",
             metric_name(metric));
  for (const auto& variant : circuit->variants) {
    fmt::print(human, "  {:<28} {:+.4f}  (metric {:+.4f})\n", variant.name, variant.recovered, variant.metric);
  }
}

void print_unpatched(std::FILE* human, const PatchingInputs& inputs, MetricKind metric, double clean,
                     double corrupted) {
  fmt::print(human, "{} prompts of {} tokens; {} clean {:.4f}, corrupted {:.4f}\n", inputs.batch(), inputs.positions(),
             metric_name(metric), clean, corrupted);
  if (std::abs(clean - corrupted) < 1e-6) {
    fmt::print(stderr, "warning: clean and corrupted metrics are equal; normalised scores are undefined\n");
  }
}

// The options that shaped this run, for the result file: every option given, and the defaults that
// were used (not --n or --seed for token files, unless --seed seeded a resample ablation).
nlohmann::json options_used(const po::variables_map& vm, bool from_task, Ablation ablation) {
  return options_json(vm, [&](const std::string& name, const po::variable_value& value) {
    const bool task_only = name == "n" || (name == "seed" && ablation != Ablation::kResample);
    return value.defaulted() && !from_task && task_only;
  });
}

}  // namespace

int run_patch(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "model checkpoint (.safetensors); also the first argument")
      ("clean", po::value<std::string>(), "clean prompts: text file (ids per line) or a record's .h5")
      ("corrupted", po::value<std::string>(), "corrupted prompts, paired line by line with --clean")
      ("clean-record", po::value<std::string>(), "take the clean activations from this record of the clean prompts (.h5)")
      ("answers", po::value<std::string>(), "'correct wrong' token ids per prompt (default: each run's own top token)")
      ("answer-pos", po::value<int64_t>()->default_value(-1), "position whose logits the metric reads (-1 = last)")
      ("pairs", po::value<std::string>(), "with --task: the counterfactual kind (logic: query-flip or fact-flip, which change the answer; rule-order, disjunct-order or distractor, which keep it: use --metric kl or prob; matching: query-node)")
      ("component", po::value<std::string>()->default_value("resid_pre"), ("what to patch (several: comma-separated): " + component_names()).c_str())
      ("positions", po::value<std::string>()->default_value("all"), "positions to patch: all, -5:, 3,7, or with --task its named spans (e.g. query,queried_rule; spans = all)")
      ("layers", po::value<std::string>()->default_value("all"), "layers to patch, e.g. all, 0, 1:3")
      ("direction", po::value<std::string>()->default_value("denoising"), "denoising (clean into corrupted) or noising")
      ("metric", po::value<std::string>()->default_value("logit-diff"), "logit-diff, prob, kl, or cosine (similarity of the output at the answer position with the clean run's; the metric of encoders without a head)")
      ("ablation", po::value<std::string>()->default_value("none"), "none, zero, mean or resample (into the clean run)")
      ("attribution", po::bool_switch(), "also estimate by attribution patching and report its correlation")
      ("circuit", po::value<std::string>(), "circuit JSON: report the clean metric recovered by its heads alone")
      ("batch", po::value<int64_t>()->default_value(512), "sequences (patched runs x prompts) per forward")
      ("out", po::value<std::string>(), "HDF5 file for the results (finished parts of the sweep wait in OUT.shards/ until it is complete)")
      ("json", po::value<std::string>(), "also write the results as JSON to this file ('-' = stdout)")
      ("group-by", po::value<std::string>(), "also score per group of an annotation with one value per prompt (e.g. queried_chain, order; group = the task's data group)")
      ("split-prompts", po::value<int64_t>()->default_value(1), "cut the prompts into G consecutive groups whose set-up (clean and corrupted runs, caches) and sweeps run one group at a time; under mpirun each rank takes whole groups, so the set-up is divided too (docs/SCALE.md)")
      ("top", po::value<int64_t>()->default_value(10), "components to list in the summary")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
  add_resume_option(options);
  add_task_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options("patch",
                     "--checkpoint CK (--clean F --corrupted F | --task NAME --n N) [--component C] [--out F.h5]",
                     "Activation patching on a checkpoint: every patched run of a component, scored at the answer "
                     "position and normalised (formulas: docs/PATCHING.md).",
                     options, {}, args, vm)) {
    return 0;
  }
  const bool from_task = vm.count("task") > 0;
  check_patch_usage(vm, from_task);

  const std::string checkpoint = vm["checkpoint"].as<std::string>();
  if (from_task) check_checkpoint_task(checkpoint, vm["task"].as<std::string>());
  HookedTransformer model = load_model(checkpoint, vm);
  const std::string checkpoint_digest = checkpoint_sha256(checkpoint);
  const std::vector<Component> components = parse_components(vm["component"].as<std::string>(), model->config());
  std::vector<PositionSpan> spans;
  PatchFileContents contents;
  contents.inputs = from_task ? inputs_from_task(vm, spans, contents) : inputs_from_files(vm, model, contents);
  const PatchingInputs& inputs = contents.inputs;
  const std::optional<PromptGroups> groups = prompt_groups_option(vm, contents.annotations, contents.prompt_groups);
  PatchOptions patch_options = patch_options_from(vm, model->config(), components, inputs, spans, from_task);
  patch_options.sharing =
      plan_sharing(vm, options_used(vm, from_task, patch_options.ablation), checkpoint_digest,
                   {inputs.clean, inputs.corrupted, inputs.answer_pos, inputs.correct, inputs.wrong});
  const bool speaks = patch_options.sharing.comm->rank() == 0;  // rank 0 writes the run's outputs
  std::optional<Circuit> circuit;
  if (vm.count("circuit")) circuit = load_circuit(vm["circuit"].as<std::string>(), model->config(), inputs.positions());

  // With --json -, stdout carries the JSON alone; the human summary goes to stderr.
  std::FILE* human = vm.count("json") && vm["json"].as<std::string>() == "-" && speaks ? stderr : stdout;
  const MetricKind metric = parse_metric(vm["metric"].as<std::string>());
  if (!model->config().has_unembed && metric != MetricKind::kCosine) {
    throw UsageError{"--metric: this model has no unembedding (an encoder without a head); use --metric cosine"};
  }
  const bool progress = !vm["quiet"].as<bool>(), attribution = vm["attribution"].as<bool>();
  const std::vector<std::string> vocab = known_vocab(checkpoint, from_task ? vm["task"].as<std::string>() : "");
  const std::vector<std::string> roles = clean_position_roles(spans, inputs.clean, vocab);
  std::vector<PatchRecord> records;
  std::optional<CircuitReport> report;
  if (const int64_t split = vm["split-prompts"].as<int64_t>(); split > 1) {
    const SplitPatchRequest request{components, patch_options, attribution, circuit ? &*circuit : nullptr, split};
    SplitPatchOutcome outcome = run_split_patching(model, inputs, metric, request, progress);
    if (!speaks) return 0;  // rank 0 holds the joined results
    print_unpatched(human, inputs, metric, outcome.clean_metric, outcome.corrupted_metric);
    for (size_t c = 0; c < components.size(); ++c) {
      records.push_back(make_record(std::move(outcome.exact[c]), std::move(outcome.attribution[c]), groups,
                                    outcome.clean_per_prompt, outcome.corrupted_per_prompt, roles));
    }
    contents.clean_per_prompt = outcome.clean_per_prompt;
    contents.corrupted_per_prompt = outcome.corrupted_per_prompt;
    contents.inputs.correct = outcome.correct;
    contents.inputs.wrong = outcome.wrong;
    report = std::move(outcome.circuit);
  } else {
    PatchingSession session(model, inputs, metric, progress);
    if (vm.count("clean-record")) {
      const auto taken = session.use_clean_record(vm["clean-record"].as<std::string>(), checkpoint_digest);
      fmt::print(human, "clean activations of {} hooks from {}\n", taken.size(), vm["clean-record"].as<std::string>());
    }
    print_unpatched(human, inputs, metric, session.clean_metric(), session.corrupted_metric());
    for (const Component& component : components) {
      std::optional<PatchResult> estimate;
      PatchResult exact = session.run(component, patch_options);
      if (attribution) estimate = session.attribution(component, patch_options);
      records.push_back(make_record(std::move(exact), std::move(estimate), groups, session.clean_per_prompt(),
                                    session.corrupted_per_prompt(), roles));
    }
    contents.clean_per_prompt = session.clean_per_prompt();
    contents.corrupted_per_prompt = session.corrupted_per_prompt();
    contents.inputs.correct = session.inputs().correct;
    contents.inputs.wrong = session.inputs().wrong;
    if (circuit) report = check_circuit(session, *circuit);
  }
  print_summary(records, report, metric, vm["top"].as<int64_t>(), human);

  if (!speaks) return 0;
  if (vm.count("out")) {
    PatchProvenance provenance =
        command_provenance("patch", args, checkpoint, model->config(),
                           options_used(vm, from_task, patch_options.ablation), checkpoint_digest);
    provenance.vocab = vocab;
    write_patch_file(vm["out"].as<std::string>(), contents, records, report, provenance);
    remove_shards(patch_options.sharing);
    fmt::print(human, "wrote {}\n", vm["out"].as<std::string>());
  }
  if (vm.count("json")) {
    const std::string json = patch_json(records, report);
    if (vm["json"].as<std::string>() == "-") std::cout << json << "\n";
    else write_file_atomically(vm["json"].as<std::string>(), json + "\n");
  }
  return 0;
}

}  // namespace mechlens::cli
