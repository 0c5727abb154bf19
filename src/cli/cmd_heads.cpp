// `mechlens heads`: name every head of a model with the evidence behind each name: attention
// pattern detectors, direct logit attribution, mean ablation and (matching models) matching scores,
// plus the logit lens; a Markdown and JSON report and an HDF5 file (docs/HEADS.md).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <chrono>
#include <iostream>

#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/plan_sharing.h"
#include "cli/prompts.h"
#include "cli/provenance.h"
#include "cli/task_input.h"
#include "cli/trace_inputs.h"
#include "core/confound_scan.h"
#include "heads/head_detectors.h"
#include "heads/head_report.h"
#include "heads/heads_file.h"
#include "heads/logic_claims.h"
#include "heads/logit_attribution.h"
#include "io/checkpoint.h"
#include "matching/matching_score.h"
#include "patching/patching.h"
#include "util/error.h"
#include "util/output_file.h"
#include "util/parse.h"

namespace mechlens::cli {
namespace {

// Seconds per stage, printed at the end (the benchmark of `heads` reads them).
class StageClock {
 public:
  void mark(const std::string& stage) {
    const auto now = std::chrono::steady_clock::now();
    stages_.emplace_back(stage, std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  std::string summary() const {
    std::vector<std::string> parts;
    for (const auto& [stage, seconds] : stages_) parts.push_back(fmt::format("{} {:.2f} s", stage, seconds));
    return fmt::format("{}", fmt::join(parts, ", "));
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, double>> stages_;
};

// --detectors: previous, duplicate, induction, bos, or DEST->SRC (DEST: answer, a named span or a
// position; SRC: a named span or a position). With a task, every span S adds answer->S by default.
std::vector<DetectionPattern> detection_patterns(const std::string& text, const TraceFileContents& contents,
                                                 bool from_task) {
  const torch::Tensor& tokens = contents.prompts.tokens;
  std::vector<std::string> parts = split_list(text);
  std::vector<DetectionPattern> patterns;
  std::string dest_name;  // trace_destinations names what it selected; the detector's name says it here
  for (const std::string& part : parts) {
    if (part == "previous") patterns.push_back(previous_token_pattern(tokens));
    else if (part == "duplicate") patterns.push_back(duplicate_token_pattern(tokens));
    else if (part == "induction") patterns.push_back(induction_pattern(tokens));
    else if (part == "bos") patterns.push_back(bos_pattern(tokens));
    else if (part == "spans") {
      if (!from_task) throw UsageError{"--detectors spans needs --task (its named spans)"};
      const auto destinations = trace_destinations("answer", contents, from_task, dest_name);
      for (const PositionSpan& span : contents.spans)
        patterns.push_back(span_pattern("answer->" + span.name, destinations, span.per_prompt, tokens.size(1)));
    } else if (const size_t arrow = part.find("->"); arrow != std::string::npos) {
      const auto destinations = trace_destinations(part.substr(0, arrow), contents, from_task, dest_name);
      const std::vector<PositionSpan> sources = trace_sources(part.substr(arrow + 2), contents, from_task);
      if (sources.size() != 1) {
        throw UsageError{fmt::format("--detectors '{}': the source names {} positions; give one span or one position",
                                     part, sources.size())};
      }
      patterns.push_back(span_pattern(part, destinations, sources[0].per_prompt, tokens.size(1)));
    } else {
      throw UsageError{fmt::format(
          "--detectors: '{}' is not a detector; expected previous, duplicate, induction, bos, spans or DEST->SRC",
          part)};
    }
  }
  if (patterns.empty()) throw UsageError{"--detectors names no detector"};
  return patterns;
}

// The logit difference a head's mean ablation costs, as a share of the clean one ([layer, head], in
// `contents`); returns the clean logit difference per prompt.
torch::Tensor run_ablation(HookedTransformer& model, const AnswerPrompts& prompts, const std::string& kind,
                           int64_t batch, bool progress, const PlanSharing& sharing, HeadsFileContents& contents) {
  PatchingInputs inputs;
  inputs.clean = prompts.tokens;
  inputs.corrupted = prompts.tokens;  // ablations run on the clean prompts; no corrupted run is read
  inputs.answer_pos = prompts.answer_pos;
  inputs.correct = prompts.correct;
  inputs.wrong = prompts.wrong;
  PatchingSession session(model, inputs, MetricKind::kLogitDiff);
  PatchOptions options;
  options.ablation = parse_ablation(kind);
  options.max_batch = batch * 8;
  options.progress = progress;
  options.sharing = sharing;  // the ablation sweep is divided between MPI ranks
  const PatchResult result = session.run(parse_components("head_z_all", model->config()).at(0), options);
  contents.ablation = kind;
  contents.ablation_per_prompt = result.per_prompt;  // [layer, head, batch]
  const double clean = session.clean_metric();
  contents.clean_metric = clean;
  contents.ablation_drop = (clean - result.metric) / (std::abs(clean) > 0 ? std::abs(clean) : 1.0);
  return session.clean_per_prompt();
}

// Per-head per-prompt statistics for the confound scan: every detector's score, the head's direct
// logit attribution and its ablation effect (clean − ablated logit difference), as [stat, batch].
torch::Tensor scan_statistics(const HeadDetection& detection, const HeadsFileContents& contents,
                              const torch::Tensor& clean_per_prompt, HeadEvidence& evidence) {
  std::vector<torch::Tensor> rows;
  for (int64_t l = 0; l < evidence.n_layers; ++l) {
    for (int64_t h = 0; h < evidence.n_heads; ++h) {
      auto add = [&](const std::string& name, const torch::Tensor& values) {
        evidence.scan_statistics.push_back(name);
        evidence.scan_heads.emplace_back(l, h);
        rows.push_back(values.to(torch::kFloat32));
      };
      for (size_t d = 0; d < detection.names.size(); ++d)
        add(detection.names[d], detection.per_prompt[int64_t(d)][l][h]);
      if (contents.dla) add("dla", contents.dla->head[l][h]);
      if (contents.ablation_per_prompt.defined())
        add("ablation effect", clean_per_prompt - contents.ablation_per_prompt[l][h]);
    }
  }
  return torch::stack(rows);
}

// The annotations that are per-prompt variables: not positions (dims ending in "bound": spans), not
// the answer tokens themselves, not the counterfactual's.
// The logic paper's claims on this model: the last layer's attention on QUERY per queried chain, from
// the detectors' per-prompt scores; the heads that read facts, from fact-flip pairs of the same task
// settings (--n, --seed) at proof tokens 0 and 1.
LogicClaims test_logic_claims(const po::variables_map& vm, HookedTransformer& model, const HeadDetection& detection,
                              const TraceFileContents& prompts, int64_t batch) {
  LogicClaims claims;
  const auto detector = std::find(detection.names.begin(), detection.names.end(), "answer->query");
  const auto chain = std::find_if(prompts.annotations.begin(), prompts.annotations.end(),
                                  [](const auto& item) { return item.first == "queried_chain"; });
  if (detector != detection.names.end() && chain != prompts.annotations.end()) {
    const int64_t index = detector - detection.names.begin();
    claims.query = query_attention_claim(detection.per_prompt[index], chain->second.reshape({-1}));
  }
  for (int64_t step : {0, 1}) {
    const TaskPrompts pairs =
        generate_task_prompts(vm, /*pairs=*/true, {"counterfactual=fact-flip", fmt::format("proof_prefix={}", step)});
    claims.facts.push_back(fact_reading_claim(model, task_pair_inputs(pairs), step, batch));
  }
  if (chain != prompts.annotations.end() && prompts.prompts.wrong.defined()) {
    std::string at;
    const torch::Tensor query = position_per_prompt("query", prompts, /*from_task=*/true, at);
    for (int64_t layer = 1; layer < std::min<int64_t>(3, model->config().n_layers); ++layer) {
      claims.steering.push_back(routing_steering_claim(model, prompts.prompts, query, chain->second.reshape({-1}),
                                                       layer, {-8, -4, 4, 8}, batch));
    }
  }
  // Linear-chain queries only: their first proof token is the linear chain's start.
  const TaskPrompts linear = generate_task_prompts(vm, /*pairs=*/false, {"logop_share=0"});
  const torch::Tensor tokens = equal_length_tokens(linear.prompts, "task logic", "probing");
  for (const auto& [name, tensor] : linear.prompts.annotations) {
    if (name == "first_answer") {
      claims.probe = start_probe_claim(model, tokens, tensor.reshape({-1}), batch, vm["seed"].as<int64_t>());
    }
  }
  return claims;
}

std::vector<std::pair<std::string, torch::Tensor>> scan_annotations(const TraceFileContents& contents) {
  std::vector<std::pair<std::string, torch::Tensor>> kept;
  for (const auto& [name, tensor] : contents.annotations) {
    const auto dims = contents.annotation_dims.find(name);
    const std::string last =
        dims != contents.annotation_dims.end() && dims->second.size() >= 2 ? dims->second.back() : "";
    const bool position = last.size() >= 5 && last.compare(last.size() - 5, 5, "bound") == 0;
    if (position || last == "answer_pos" || name.rfind("corrupt", 0) == 0 || (name == "answer" && last != "one"))
      continue;
    kept.emplace_back(name, tensor);
  }
  return kept;
}

torch::Tensor matching_by_layer(HookedTransformer& model) {
  const ModelConfig& config = model->config();
  torch::Tensor out = torch::full({config.n_layers, config.n_heads}, std::numeric_limits<float>::quiet_NaN());
  MatchingOptions options;
  for (int64_t token = 1; token <= std::min<int64_t>(100, config.d_vocab - 1); ++token) options.tokens.push_back(token);
  const MatchingScores scores = matching_scores(model, options);
  for (size_t i = 0; i < scores.layers.size(); ++i) out[scores.layers[i]].copy_(scores.score[int64_t(i)]);
  return out;
}

}  // namespace

int run_heads(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "model checkpoint (.safetensors); also the first argument")
      ("answers", po::value<std::string>(), "token prompts: 'correct' or 'correct wrong' ids per prompt (default: the model's top two tokens)")
      ("answer-pos", po::value<int64_t>()->default_value(-1), "token prompts: the position that predicts the answer (-1 = last)")
      ("detectors", po::value<std::string>(), "pattern detectors: previous, duplicate, induction, bos, spans (answer -> each named span of the task), DEST->SRC (default: previous,duplicate,induction,bos, and spans with --task)")
      ("measure", po::value<std::string>()->default_value("mul"), "detector score: mul (share of attention on the pattern, 0..1) or abs (1 - mean absolute difference, -1..1), as TransformerLens")
      ("exclude-bos", po::bool_switch(), "detectors: leave out the attention on position 0")
      ("exclude-current", po::bool_switch(), "detectors: leave out each position's attention to itself")
      ("ablation", po::value<std::string>()->default_value("mean"), "causal evidence: mean or zero ablation of each head (all positions), or none")
      ("pattern-threshold", po::value<double>()->default_value(0.5), "detector score that earns a pattern label")
      ("dla-share", po::value<double>()->default_value(0.2), "|direct logit attribution| / mean logit difference that earns 'writes (suppresses) the answer'")
      ("ablation-drop", po::value<double>()->default_value(0.2), "normalised drop of the logit difference under ablation that earns 'needed'")
      ("matching-threshold", po::value<double>()->default_value(0.5), "matching score that earns 'matches' (matching models)")
      ("scan-effect", po::value<double>()->default_value(0.1), "confound scan: the η² a variable needs to be reported")
      ("top-k", po::value<int64_t>()->default_value(5), "logit lens: tokens kept per layer")
      ("batch", po::value<int64_t>()->default_value(64), "prompts per forward")
      ("out", po::value<std::string>(), "HDF5 file with every number (layout: docs/HEADS.md)")
      ("report", po::value<std::string>(), "Markdown report")
      ("json", po::value<std::string>(), "JSON report ('-' for stdout)")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
  add_resume_option(options);
  add_task_options(options);
  add_token_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options("heads", "--checkpoint CK (--task NAME --n N | --tokens-file F) [--out F.h5] [--report F.md]",
                     "Name every head with the evidence behind each name: attention-pattern detectors, direct logit "
                     "attribution, mean ablation, matching scores, and the logit lens (docs/HEADS.md).",
                     options, {}, args, vm)) {
    return 0;
  }
  const bool from_task = vm.count("task") > 0;
  if (!from_task && !has_token_options(vm))
    throw UsageError{"heads needs --task NAME --n N, or --tokens/--tokens-file"};
  if (from_task && (!vm["answer-pos"].defaulted() || vm.count("answers")))
    throw UsageError{"--answers and --answer-pos are for token prompts; a task gives each prompt its answer"};
  HeadThresholds thresholds;
  thresholds.pattern = vm["pattern-threshold"].as<double>();
  thresholds.dla_share = vm["dla-share"].as<double>();
  thresholds.ablation = vm["ablation-drop"].as<double>();
  thresholds.matching = vm["matching-threshold"].as<double>();
  thresholds.scan_effect = vm["scan-effect"].as<double>();
  for (const char* name : {"pattern-threshold", "dla-share", "ablation-drop", "matching-threshold", "scan-effect"}) {
    const double value = vm[name].as<double>();
    if (!std::isfinite(value)) throw UsageError{fmt::format("--{} must be a finite number", name)};
  }
  const std::string ablation = vm["ablation"].as<std::string>();
  if (ablation != "mean" && ablation != "zero" && ablation != "none")
    throw UsageError{fmt::format("--ablation {}: expected mean, zero or none", ablation)};
  const int64_t batch = vm["batch"].as<int64_t>();
  if (batch < 1) throw UsageError{"--batch must be >= 1"};
  // Checked before any analysis runs; the vocabulary bound is the lens's own check.
  if (vm["top-k"].as<int64_t>() < 1)
    throw UsageError{fmt::format("--top-k is {}, expected >= 1", vm["top-k"].as<int64_t>())};
  DetectorOptions detector_options;
  detector_options.measure = parse_detection_measure(vm["measure"].as<std::string>(), "--measure");
  detector_options.exclude_bos = vm["exclude-bos"].as<bool>();
  detector_options.exclude_current_token = vm["exclude-current"].as<bool>();
  detector_options.max_batch = batch;
  const bool progress = !vm["quiet"].as<bool>();
  detector_options.progress = progress;

  const std::string checkpoint = vm["checkpoint"].as<std::string>();
  StageClock clock;
  TraceFileContents prompts_in;
  std::string task_name;
  HookedTransformer model = load_model_and_prompts(vm, prompts_in, task_name);
  require_unembedding(model, "heads");
  const AnswerPrompts& prompts = prompts_in.prompts;
  validate_answer_prompts(prompts, model->config());
  // The ablation sweep is divided between MPI ranks; detectors, attribution and the lens run on each.
  const PlanSharing sharing = plan_sharing(vm, options_json(vm), checkpoint_sha256(checkpoint),
                                           {prompts.tokens, prompts.answer_pos, prompts.correct, prompts.wrong});
  const bool speaks = sharing.comm->rank() == 0;
  const std::string detector_text = vm.count("detectors") ? vm["detectors"].as<std::string>()
                                                          : (from_task ? "previous,duplicate,induction,bos,spans"
                                                                       : "previous,duplicate,induction,bos");
  const std::vector<DetectionPattern> patterns = detection_patterns(detector_text, prompts_in, from_task);
  clock.mark("inputs");

  HeadsFileContents contents;
  contents.prompts = &prompts;
  const HeadDetection detection = detect_heads(model, prompts.tokens, patterns, detector_options);
  contents.detection = &detection;
  clock.mark("detectors");

  HeadEvidence evidence;
  evidence.n_layers = model->config().n_layers;
  evidence.n_heads = model->config().n_heads;
  evidence.n_prompts = prompts.batch();
  evidence.detectors = detection.names;
  evidence.detector_mean = detection.mean;
  const ModelConfig& config = model->config();
  if (config.norm_placement == NormPlacement::kPost && config.normalization_type != NormType::kNone) {
    evidence.dla_note =
        "post-LN model: its blocks renormalise the residual stream, so heads' outputs do not add up "
        "to the logits";
  } else if (config.noise_vo()) {
    evidence.dla_note = "the model adds orthogonal VO noise to its heads' outputs";
  } else {
    contents.dla = direct_logit_attribution(model, prompts, batch, progress);
    evidence.dla_mean = contents.dla->head.mean(2);
    evidence.metric_mean = contents.dla->metric.mean().item<double>();
  }
  clock.mark("attribution");
  torch::Tensor clean_per_prompt;
  if (ablation != "none") {
    clean_per_prompt = run_ablation(model, prompts, ablation, batch, progress, sharing, contents);
    evidence.ablation_drop = contents.ablation_drop;
    evidence.ablation = ablation;
  }
  clock.mark("ablation");
  contents.lens = logit_lens(model, prompts, vm["top-k"].as<int64_t>(), batch, progress);
  clock.mark("logit lens");
  if (task_name == "matching" && config.n_layers >= 2) {
    contents.matching_score = matching_by_layer(model);
    evidence.matching_score = contents.matching_score;
    clock.mark("matching");
  }

  const std::vector<ScanVariable> variables = scan_variables(scan_annotations(prompts_in), prompts_in.prompt_groups);
  if (!variables.empty()) {
    evidence.scan = confound_scan(scan_statistics(detection, contents, clean_per_prompt, evidence), variables);
    contents.scan = &evidence.scan;
    contents.scan_statistics = evidence.scan_statistics;
    contents.scan_heads = evidence.scan_heads;
    clock.mark("confound scan");
  }
  const std::vector<HeadRole> roles = name_heads(evidence, thresholds);
  nlohmann::json report = heads_json(evidence, thresholds, roles);
  const std::string title = fmt::format("Heads of {}", checkpoint);
  std::string markdown = heads_markdown(evidence, thresholds, roles, title);
  if (task_name == "logic" && vm.count("task")) {
    const LogicClaims claims = test_logic_claims(vm, model, detection, prompts_in, batch);
    report["logic_claims"] = logic_claims_json(claims);
    markdown += logic_claims_markdown(claims);
    clock.mark("paper claims");
  }
  contents.report_json = report.dump();
  if (!(vm.count("json") && vm["json"].as<std::string>() == "-")) fmt::print("{}", markdown);

  // The logit lens in one line per stage: where the answer becomes the prediction.
  const LogitLens& lens = *contents.lens;
  std::string lens_text = "\nlogit lens at the answer position (mean over prompts):\n";
  for (int64_t s = 0; s < lens.answer_prob.size(0); ++s) {
    lens_text += fmt::format("  {:<18} p(answer) {:.3f}  top-1 {:.3f}  KL to final {:.3f}\n",
                             s < config.n_layers ? fmt::format("before layer {}", s) : "after the last layer",
                             lens.answer_prob[s].mean().item<double>(),
                             lens.answer_rank[s].eq(0).to(torch::kFloat32).mean().item<double>(),
                             lens.kl_to_final[s].mean().item<double>());
  }
  if (!(vm.count("json") && vm["json"].as<std::string>() == "-")) fmt::print("{}", lens_text);
  clock.mark("report");
  if (speaks) std::cerr << "time: " << clock.summary() << "\n";

  if (!speaks) return 0;  // rank 0 writes the run's outputs
  if (vm.count("out")) {
    nlohmann::json option_values = options_json(vm);
    contents.provenance = command_provenance("heads", args, checkpoint, config, option_values);
    contents.provenance.vocab = known_vocab(checkpoint, task_name);
    write_heads_file(vm["out"].as<std::string>(), contents);
    remove_shards(sharing);
    fmt::print("wrote {}\n", vm["out"].as<std::string>());
  }
  if (vm.count("report")) {
    write_file_atomically(vm["report"].as<std::string>(), markdown + lens_text);
    fmt::print("wrote {}\n", vm["report"].as<std::string>());
  }
  if (vm.count("json")) {
    if (vm["json"].as<std::string>() == "-") fmt::print("{}\n", report.dump(2));
    else write_file_atomically(vm["json"].as<std::string>(), report.dump(2) + "\n");
  }
  return 0;
}

}  // namespace mechlens::cli
