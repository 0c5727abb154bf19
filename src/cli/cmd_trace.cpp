// `mechlens trace`: attention-pattern circuit tracing on a checkpoint: span attention statistics,
// the attention knock-out grid and information-flow routes (with rollout, pruning and a causal
// check of every kept edge), summarised on the terminal and written to HDF5, graph JSON and DOT.
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/plan_sharing.h"
#include "cli/prompts.h"
#include "cli/provenance.h"
#include "cli/task_input.h"
#include "cli/trace_inputs.h"
#include "cli/trace_report.h"
#include "hooks/hook_names.h"
#include "io/checkpoint.h"
#include "tracing/edge_check.h"
#include "tracing/flow_graph.h"
#include "tracing/graph_export.h"
#include "tracing/rollout.h"
#include "util/error.h"
#include "util/index_spec.h"
#include "util/output_file.h"
#include "util/parse.h"

namespace mechlens::cli {
namespace {

constexpr int64_t kFullFlowElements = int64_t(1) << 26;  // 256 MiB of float shares kept per run

struct TraceRequest {
  bool spans = false, knockout = false, flow = false, path = false;
};

TraceRequest parse_analyses(const std::string& text) {
  TraceRequest request;
  for (const std::string& part : split_list(text, ',')) {
    if (part == "spans") request.spans = true;
    else if (part == "knockout") request.knockout = true;
    else if (part == "flow") request.flow = true;
    else if (part == "path") request.path = true;
    else throw UsageError{fmt::format("--analyses: unknown analysis '{}'; expected spans, knockout, flow, path", part)};
  }
  return request;
}

std::vector<double> parse_levels(const std::string& text) {
  std::vector<double> levels;
  for (const std::string& part : split_list(text, ',')) {
    const std::optional<double> level = parse_double(part);
    if (!level || !(*level >= 0 && *level <= 1)) {
      throw UsageError{fmt::format("--quantiles: '{}' is not a level in [0, 1]", part)};
    }
    levels.push_back(*level);
  }
  return levels;
}

// The token strings of a prompt (ids where the vocabulary is unknown).
std::vector<std::string> token_labels(const torch::Tensor& tokens, const std::vector<std::string>& vocab) {
  std::vector<std::string> labels;
  for (int64_t p = 0; p < tokens.size(0); ++p) {
    const int64_t id = tokens[p].item<int64_t>();
    labels.push_back(id >= 0 && id < int64_t(vocab.size()) ? vocab[size_t(id)] : std::to_string(id));
  }
  return labels;
}

// Information flow of every prompt in chunks; keeps the full shares when they fit the bound, else
// those of the graph prompt only. Span flow and rollout follow the same prompts.
void run_flow(HookedTransformer& model, TraceFileContents& contents, int64_t chunk, bool progress) {
  const torch::Tensor& tokens = contents.prompts.tokens;
  const ModelConfig& config = model->config();
  const int64_t batch = tokens.size(0), n_pos = tokens.size(1);
  const bool keep_all = batch * config.n_layers * config.n_heads * n_pos * n_pos <= kFullFlowElements;
  InformationFlowOptions options;
  options.progress = progress && batch <= chunk;
  std::vector<InformationFlow> kept;
  std::vector<torch::Tensor> span_flows;
  for (int64_t start = 0; start < batch; start += chunk) {
    const int64_t count = std::min(chunk, batch - start);
    InformationFlow flow = information_flow(model, tokens.narrow(0, start, count), options);
    if (!contents.spans.empty())
      span_flows.push_back(span_flow(flow, [&] {
        std::vector<PositionSpan> spans = contents.spans;
        for (PositionSpan& span : spans) {
          span.per_prompt = std::vector<std::pair<int64_t, int64_t>>(span.per_prompt.begin() + start,
                                                                     span.per_prompt.begin() + start + count);
        }
        return spans;
      }()));
    const bool has_graph_prompt = contents.graph_prompt >= start && contents.graph_prompt < start + count;
    if (keep_all) kept.push_back(std::move(flow));
    else if (has_graph_prompt) kept.push_back(narrow_prompts(flow, contents.graph_prompt - start, 1));
  }
  InformationFlow all = concat_prompts(kept);
  contents.flow = std::move(all);
  if (!span_flows.empty()) contents.span_flow = torch::cat(span_flows, -1);
  if (keep_all) {
    for (int64_t b = 0; b < batch; ++b) contents.flow_prompts.push_back(b);
  } else {
    contents.flow_prompts = {contents.graph_prompt};
  }
  // Rollout of the kept prompts, from their patterns.
  std::vector<torch::Tensor> rollouts;
  torch::NoGradGuard no_grad;
  for (int64_t b : contents.flow_prompts) {
    const ActivationCache cache =
        model->run_with_cache(tokens.narrow(0, b, 1), model->names_filter({"pattern"})).second;
    std::vector<torch::Tensor> patterns;
    for (int64_t l = 0; l < config.n_layers; ++l) {
      patterns.push_back(cache.at(layer_hook_name(l, "attn.hook_pattern"))[0]);
    }
    const torch::Tensor stacked = torch::stack(patterns);  // [layer, head, dest, src]
    rollouts.push_back(attention_rollout(stacked));
    if (b == contents.graph_prompt && n_pos <= 128) {
      contents.attention_flow =
          attention_flow(stacked, contents.prompts.answer_pos[b].item<int64_t>(), /*max_positions=*/128);
    }
  }
  contents.rollout = torch::stack(rollouts);
}

// Nodes at the answer position whose shares describe little of the sum (large parts cancel): the
// attention nodes A{l}, and with MLPs the layer outputs I{l} (the last one is the graph's root).
void warn_low_coverage(const InformationFlow& flow, int64_t row, int64_t answer) {
  constexpr double kLow = 0.1;
  const auto note = [&](const std::string& node, double coverage) {
    if (coverage >= kLow) return;
    fmt::print(
        "  note: at {}_{} the parts' proximities add up to {:.1f}% of the sum's L1 norm: its large parts cancel "
        "(each is farther from the sum than 0 is, so its share is 0) and the shares there rest on small parts; "
        "--verify checks the edges by knock-out\n",
        node, answer, 100.0 * coverage);
  };
  for (int64_t l = 0; l < flow.n_layers(); ++l) {
    note(fmt::format("A{}", l), flow.attention_coverage[row][l][answer].item<double>());
    if (flow.has_mlp()) note(fmt::format("I{}", l), flow.mlp_coverage[row][l][answer].item<double>());
  }
}

// --graph-json and --dot.
void write_graph_files(const po::variables_map& vm, const TraceGraph& graph, const GraphDescription& description) {
  if (vm.count("graph-json")) {
    write_file_atomically(vm["graph-json"].as<std::string>(), graph_json(graph, description) + "\n");
    fmt::print("wrote {}\n", vm["graph-json"].as<std::string>());
  }
  if (vm.count("dot")) {
    write_file_atomically(vm["dot"].as<std::string>(), graph_dot(graph, description));
    fmt::print("wrote {}\n", vm["dot"].as<std::string>());
  }
}

void check_trace_usage(const po::variables_map& vm, bool from_task) {
  refuse_task_options_without_task(vm);
  if (from_task == has_token_options(vm)) {
    throw UsageError{"give the prompts with either --task NAME or --tokens/--tokens-file"};
  }
  if (from_task && (!vm["answer-pos"].defaulted() || vm.count("answers"))) {
    throw UsageError{"--answer-pos and --answers apply to token prompts; a task's prompts carry their answers"};
  }
  if (vm["batch"].as<int64_t>() < 1) throw UsageError{"--batch must be at least 1"};
  if (vm["top"].as<int64_t>() < 0) throw UsageError{"--top must be >= 0"};
  if (vm["window"].as<int64_t>() < 1) throw UsageError{"--window must be at least 1"};
  const double tau = vm["tau"].as<double>();
  if (!(tau >= 0 && tau < 1)) throw UsageError{fmt::format("--tau {} is outside [0, 1)", tau)};
  const std::string prune = vm["prune"].as<std::string>();
  if (prune != "threshold" && prune != "influence") {
    throw UsageError{fmt::format("--prune {}: expected threshold or influence", prune)};
  }
}

}  // namespace

int run_trace(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "model checkpoint (.safetensors); also the first argument")
      ("answers", po::value<std::string>(), "token prompts: 'correct' or 'correct wrong' ids per prompt (default: the model's top two tokens)")
      ("answer-pos", po::value<int64_t>()->default_value(-1), "token prompts: the position that predicts the answer (-1 = last)")
      ("analyses", po::value<std::string>(), "what to run, comma-separated: spans, knockout, flow, path (default: all; path needs --task)")
      ("min-drop", po::value<double>()->default_value(0.3), "path: the accuracy drop that makes a knocked-out edge part of the path")
      ("sources", po::value<std::string>(), "source sets: a task's named spans (query,queried_rule; spans = all) or positions (all, 0:5, 3,7) (default: spans with --task, all without)")
      ("dest", po::value<std::string>()->default_value("answer"), "destination: answer (each prompt's answer position), one named span, or one position")
      ("region", po::value<std::string>(), "span statistics: normalise each head's mass by its mass on this named span (default: the union of the sources)")
      ("group-by", po::value<std::string>(), "split statistics by an annotation with one value per prompt (e.g. queried_chain; group = the task's data group)")
      ("quantiles", po::value<std::string>()->default_value("0.05,0.25,0.5,0.75,0.95"), "quantile levels of the span statistics")
      ("layers", po::value<std::string>()->default_value("all"), "knock-out: first layer of each window (all, 0, 1:3)")
      ("window", po::value<int64_t>()->default_value(1), "knock-out: layers blocked together, from each first layer")
      ("per-head", po::bool_switch(), "knock-out: one run per head instead of every head of the window")
      ("all-but", po::bool_switch(), "knock-out: also block everything but each source set")
      ("graph-prompt", po::value<int64_t>()->default_value(0), "flow: the prompt whose graph is pruned and exported")
      ("prune", po::value<std::string>()->default_value("threshold"), "flow: threshold (edges > tau from the prediction) or influence (cumulative, circuit-tracer)")
      ("tau", po::value<double>()->default_value(0.04), "flow: threshold pruning's edge weight")
      ("node-threshold", po::value<double>()->default_value(0.8), "flow: influence pruning's node share")
      ("edge-threshold", po::value<double>()->default_value(0.98), "flow: influence pruning's edge share")
      ("verify", po::bool_switch(), "flow: knock out every kept attention edge and report its effect beside its weight")
      ("batch", po::value<int64_t>()->default_value(64), "prompts per forward (knock-out: x8 rows)")
      ("out", po::value<std::string>(), "HDF5 file for every result (layout: docs/TRACING.md)")
      ("graph", po::value<std::string>(), "which graph --graph-json and --dot write: flow (the pruned information-flow graph) or path (the knock-out path) (default: flow when it runs)")
      ("graph-json", po::value<std::string>(), "the graph as circuit-tracer graph JSON")
      ("dot", po::value<std::string>(), "the graph as Graphviz DOT")
      ("top", po::value<int64_t>()->default_value(10), "knock-outs and edges to list in the summary")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
  add_resume_option(options);
  add_task_options(options);
  add_token_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options(
          "trace",
          "--checkpoint CK (--task NAME --n N | --tokens-file F) [--analyses spans,knockout,flow] [--out F.h5]",
          "Attention-pattern circuit tracing: span attention statistics, attention knock-out and "
          "information-flow routes from the prediction backwards (docs/TRACING.md).",
          options, {}, args, vm)) {
    return 0;
  }
  const bool from_task = vm.count("task") > 0;
  check_trace_usage(vm, from_task);
  const TraceRequest request = parse_analyses(vm.count("analyses") ? vm["analyses"].as<std::string>()
                                              : from_task          ? "spans,knockout,flow,path"
                                                                   : "spans,knockout,flow");
  if (request.path && !from_task) {
    throw UsageError{"--analyses path follows a task's named spans (roles); give --task"};
  }
  const double min_drop = vm["min-drop"].as<double>();
  if (!(min_drop > 0 && min_drop <= 1)) throw UsageError{fmt::format("--min-drop {} is outside (0, 1]", min_drop)};
  const bool progress = !vm["quiet"].as<bool>();
  const int64_t chunk = vm["batch"].as<int64_t>(), top = vm["top"].as<int64_t>();
  const std::string checkpoint = vm["checkpoint"].as<std::string>();
  TraceFileContents contents;
  std::string task_name;
  HookedTransformer model = load_model_and_prompts(vm, contents, task_name);
  require_unembedding(model, "trace");
  const int64_t batch = contents.prompts.batch();
  contents.quantile_levels = parse_levels(vm["quantiles"].as<std::string>());
  contents.groups = trace_groups(vm, contents);
  const std::string sources_text = vm.count("sources") ? vm["sources"].as<std::string>() : from_task ? "spans" : "all";
  const std::vector<PositionSpan> sources = trace_sources(sources_text, contents, from_task);
  const auto destinations = trace_destinations(vm["dest"].as<std::string>(), contents, from_task, contents.destination);
  contents.graph_prompt = vm["graph-prompt"].as<int64_t>();
  if (contents.graph_prompt < 0 || contents.graph_prompt >= batch) {
    throw UsageError{
        fmt::format("--graph-prompt {} is outside the {} prompts (0..{})", contents.graph_prompt, batch, batch - 1)};
  }
  const std::vector<std::string> vocab = known_vocab(checkpoint, task_name);
  fmt::print("{} prompts of {} tokens; destination: {}\n", batch, contents.prompts.positions(), contents.destination);

  // Every option is checked before the first analysis runs.
  const std::string graph_kind = vm.count("graph") ? vm["graph"].as<std::string>()
                                 : request.flow    ? "flow"
                                 : request.path    ? "path"
                                                   : "";
  if (graph_kind != "" && graph_kind != "flow" && graph_kind != "path") {
    throw UsageError{fmt::format("--graph {}: expected flow or path", graph_kind)};
  }
  if ((graph_kind == "flow" && !request.flow) || (graph_kind == "path" && !request.path)) {
    throw UsageError{fmt::format("--graph {} needs --analyses {}", graph_kind, graph_kind)};
  }
  if ((vm.count("graph-json") || vm.count("dot")) && graph_kind.empty()) {
    throw UsageError{"--graph-json and --dot write the flow or path graph: add flow or path to --analyses"};
  }
  KnockoutOptions knockout;
  knockout.window = vm["window"].as<int64_t>();
  const int64_t starts = model->config().n_layers - knockout.window + 1;
  if (starts < 1) {
    throw UsageError{
        fmt::format("--window {} exceeds the model's {} layers", knockout.window, model->config().n_layers)};
  }
  knockout.layers = IndexSpec::parse(vm["layers"].as<std::string>(), "--layers")
                        .resolve(starts, fmt::format("the window starts (0..{})", starts - 1));
  knockout.per_head = vm["per-head"].as<bool>();
  knockout.destinations = destinations;
  const int64_t n_pos = contents.prompts.positions();
  for (const PositionSpan& span : sources) knockout.sources.push_back(source_from_span(span, n_pos));
  if (vm["all-but"].as<bool>()) {
    for (const PositionSpan& span : sources)
      knockout.sources.push_back(source_from_span(span, n_pos, /*all_but=*/true));
  }
  knockout.max_batch = 8 * chunk;
  knockout.progress = progress;
  // The knock-out grid is divided between MPI ranks; the other analyses run on every rank.
  knockout.sharing = plan_sharing(
      vm, options_json(vm), checkpoint_sha256(checkpoint),
      {contents.prompts.tokens, contents.prompts.answer_pos, contents.prompts.correct, contents.prompts.wrong});
  const bool speaks = knockout.sharing.comm->rank() == 0;  // rank 0 writes the run's outputs
  if (request.spans) {
    SpanAttentionOptions span_options;
    span_options.sources = sources;
    span_options.destinations = destinations;
    span_options.answer_pos = contents.prompts.answer_pos;
    span_options.max_batch = chunk;
    span_options.progress = progress;
    if (vm.count("region")) {
      const PositionSelection region =
          PositionSelection::parse(vm["region"].as<std::string>(), "--region", from_task ? &contents.spans : nullptr);
      if (!region.named() || region.spans().size() != 1) throw UsageError{"--region names one span of the task"};
      span_options.region = region.spans()[0];
    }
    contents.span_attention = span_attention(model, contents.prompts.tokens, span_options);
    print_span_attention(stdout, *contents.span_attention, contents.destination, contents.groups);
  }
  if (request.knockout) {
    KnockoutSession session(model, contents.prompts);
    contents.knockout = session.run(knockout);
    print_knockout(stdout, *contents.knockout, contents.destination, top);
  }
  if (request.path) {
    KnockoutPathOptions path;
    path.min_drop = min_drop;
    path.seed = uint64_t(vm["seed"].as<int64_t>());
    path.max_batch = 8 * chunk;
    path.progress = progress;
    const std::string dest = vm["dest"].as<std::string>();
    contents.path_start = dest == "answer" ? "answer_position" : dest;
    contents.path_min_drop = min_drop;
    contents.path = trace_knockout_path(model, contents.prompts, contents.spans, contents.path_start, path);
    print_path(stdout, *contents.path, contents.path_start);
  }
  GraphDescription flow_description;
  if (request.flow) {
    run_flow(model, contents, chunk, progress);
    if (contents.span_flow.defined()) {
      for (size_t i = 0; i < contents.spans.size(); ++i) {
        if (contents.spans[i].name == "answer_position") {
          std::vector<std::string> names;
          for (const PositionSpan& span : contents.spans) names.push_back(span.name);
          print_span_flow(stdout, contents.span_flow, names, int64_t(i));
        }
      }
    }
    // The graph prompt's flow is row 0 of the kept flow unless every prompt was kept.
    const int64_t row = contents.flow_prompts.size() == size_t(batch) ? contents.graph_prompt : 0;
    const int64_t answer = contents.prompts.answer_pos[contents.graph_prompt].item<int64_t>();
    const std::vector<std::string> labels = token_labels(contents.prompts.tokens[contents.graph_prompt], vocab);
    const TraceGraph full = flow_graph(*contents.flow, row, answer, labels);
    if (vm["prune"].as<std::string>() == "threshold") {
      contents.graph = prune_by_threshold(full, vm["tau"].as<double>());
      contents.pruning = fmt::format("threshold tau = {}", vm["tau"].as<double>());
    } else {
      InfluencePruning pruning;
      pruning.node_threshold = vm["node-threshold"].as<double>();
      pruning.edge_threshold = vm["edge-threshold"].as<double>();
      contents.graph = prune_by_influence(full, pruning);
      contents.pruning = fmt::format("influence: nodes {}, edges {}", pruning.node_threshold, pruning.edge_threshold);
    }
    if (vm["verify"].as<bool>()) {
      EdgeCheckOptions check;
      check.max_batch = 8 * chunk;
      check.seed = uint64_t(vm["seed"].as<int64_t>());
      check.progress = progress;
      contents.edge_check =
          check_edges(model, contents.prompts, contents.spans, *contents.graph, contents.graph_prompt, check);
    }
    fmt::print("information-flow graph of prompt {} ({}):\n", contents.graph_prompt, contents.pruning);
    warn_low_coverage(*contents.flow, row, answer);
    print_graph(stdout, *contents.graph, contents.edge_check, top);
    if (contents.graph->edges.empty() && request.path && !vm.count("graph")) {
      fmt::print(
          "  (on post-LN models the flow's parts can cancel, docs/TRACING.md; --graph path writes the "
          "knock-out path to --graph-json/--dot instead)\n");
    }

    flow_description.slug =
        fmt::format("{}-prompt-{}", task_name.empty() ? "prompts" : task_name, contents.graph_prompt);
    flow_description.prompt_tokens = labels;
    flow_description.method = "information flow routes";
    flow_description.pruning = contents.pruning;
    flow_description.checkpoint = checkpoint;
    torch::NoGradGuard no_grad;
    const torch::Tensor top_tokens =
        model->forward(contents.prompts.tokens.narrow(0, contents.graph_prompt, 1))[0].argmax(-1);
    flow_description.predictions = token_labels(top_tokens, vocab);
  }
  if (!speaks) return 0;
  if (graph_kind == "flow") write_graph_files(vm, *contents.graph, flow_description);
  if (graph_kind == "path") {
    const TraceGraph graph = knockout_path_graph(*contents.path, model->config().n_layers);
    GraphDescription description;
    description.slug = fmt::format("{}-knockout-path", task_name);
    for (const GraphNode& node : graph.nodes) {
      if (size_t(node.pos) >= description.prompt_tokens.size()) description.prompt_tokens.resize(size_t(node.pos) + 1);
      description.prompt_tokens[size_t(node.pos)] = node.label;  // a role per column
    }
    description.method = "knock-out path (edge weight: accuracy drop)";
    description.pruning = fmt::format("edges dropping accuracy by >= {}", contents.path_min_drop);
    description.checkpoint = checkpoint;
    write_graph_files(vm, graph, description);
  }
  if (vm.count("out")) {
    Provenance provenance = command_provenance("trace", args, checkpoint, model->config(), options_json(vm));
    provenance.vocab = vocab;
    write_trace_file(vm["out"].as<std::string>(), contents, provenance);
    remove_shards(knockout.sharing);
    fmt::print("wrote {}\n", vm["out"].as<std::string>());
  }
  return 0;
}

}  // namespace mechlens::cli
