// `mechlens match`: matching-mechanism scores of a checkpoint (docs/MATCHING.md): per hop layer and
// head the matching score, top-1 hit rate and kernel score from the weights, and with --task the
// activation-based score (the share of the answer position's attention on the j-th hop's child in
// layer j), written to HDF5 with the matching matrices.
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/prompts.h"
#include "cli/provenance.h"
#include "cli/task_input.h"
#include "io/checkpoint.h"
#include "matching/embedding_subspace.h"
#include "matching/matching_score.h"
#include "store/h5_util.h"
#include "store/result_file.h"
#include "tasks/matching_task.h"
#include "tracing/span_attention.h"
#include "util/error.h"
#include "util/index_spec.h"

namespace mechlens::cli {
namespace {

// The node-id ranges of the matching task a checkpoint was trained on (its "task" metadata); none for
// a checkpoint that names no matching task (built by hand, or from elsewhere).
std::optional<MatchingRanges> checkpoint_ranges(const std::string& checkpoint) {
  const auto metadata = read_checkpoint_metadata(checkpoint);
  const auto task = metadata.find("task");
  if (task == metadata.end()) return std::nullopt;
  return matching_ranges_of(task->second, checkpoint + " (metadata 'task')");
}

struct TokenSet {
  std::vector<int64_t> ids;
  std::string description;  // "id: 1..99, the checkpoint's task ranges"
};

// --tokens: id / ood (the node ids the checkpoint's task drew in and out of distribution), all (every
// id of the model), or an index selection.
// The ranges id and ood name: the checkpoint's, else the task's default.
TokenSet token_set(const std::string& text, int64_t d_vocab, const std::optional<MatchingRanges>& trained) {
  TokenSet set{{}, text};
  if (text == "id" || text == "ood") {
    const MatchingRanges ranges = trained.value_or(MatchingSettings{}.ranges);
    set.ids = matching_node_ids(ranges, text == "ood");
    if (set.ids.back() >= d_vocab) {
      throw UsageError{fmt::format("--tokens {}: the model's vocabulary ends at {}", text, d_vocab - 1)};
    }
    set.description = fmt::format("{}: {}..{}, the checkpoint's task ranges={}", text, set.ids.front(), set.ids.back(),
                                  ranges == MatchingRanges::kPaper ? "paper" : "full");
  } else {
    set.ids = IndexSpec::parse(text, "--tokens").resolve(d_vocab, fmt::format("the vocabulary ({} ids)", d_vocab));
  }
  return set;
}

}  // namespace

int run_match(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "model checkpoint (.safetensors); also the first argument")
      ("tokens", po::value<std::string>()->default_value("id"), "token set: id or ood (the node ids the checkpoint's matching task drew: 1..99 and 101..199, or 1..100 and 101..200 with ranges=full), or ids (all, 1:50, 3,7,9)")
      ("embeddings", po::value<std::string>()->default_value("normalised"), "normalised (through layer 0's norm, as the model applies it) or raw")
      ("positional", po::bool_switch(), "add the mean positional embedding to every token's")
      ("query", po::value<std::string>()->default_value("embedding"), "the first hop layer's query: embedding (X_1 = E, the query node is the last token) or moved (X_1 = E W_VO(0): layer 0 moves it there, as when a hop count follows the start node)")
      ("fusion-layer", po::value<int64_t>()->default_value(0), "the pair-fusion layer F whose value-output map writes the keys (E W_VO(F)); hop layers F + 1.. are scored (F > 0: models that spend layers on setup first)")
      ("subspace-energy", po::value<double>()->default_value(0.9), "for checkpoints of the matching task: the share of the in-distribution rows' squared norm that their principal subspace holds; reported with each scored row's share inside it")
      ("out", po::value<std::string>(), "HDF5 file: scores and matching matrices")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
  add_task_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options("match", "--checkpoint CK [--tokens id|ood|IDS] [--task matching --n N] [--out F.h5]",
                     "Matching-mechanism scores (Wang et al. 2024; the project's reconstruction, docs/MATCHING.md): "
                     "per hop layer and head, from the weights; with --task, from the attention on the hop children.",
                     options, {}, args, vm)) {
    return 0;
  }
  refuse_task_options_without_task(vm);
  const std::string embeddings = vm["embeddings"].as<std::string>();
  if (embeddings != "normalised" && embeddings != "raw") {
    throw UsageError{fmt::format("--embeddings {}: expected normalised or raw", embeddings)};
  }
  const std::string query = vm["query"].as<std::string>();
  if (query != "embedding" && query != "moved") {
    throw UsageError{fmt::format("--query {}: expected embedding or moved", query)};
  }
  const double subspace_energy = vm["subspace-energy"].as<double>();
  if (!(subspace_energy > 0 && subspace_energy <= 1)) {
    throw UsageError{fmt::format("--subspace-energy {}: expected a share in (0, 1]", subspace_energy)};
  }
  const std::string checkpoint = vm["checkpoint"].as<std::string>();
  if (vm.count("task")) check_checkpoint_task(checkpoint, vm["task"].as<std::string>());
  // The prompts come first, so that a bad --n, --seed or task option is refused before any score prints.
  std::optional<TaskPrompts> generated;
  if (vm.count("task")) {
    generated = generate_task_prompts(vm, /*pairs=*/false);
    MECHLENS_CHECK(InputError, generated->task->name() == "matching",
                   "--task {}: the activation score reads a matching task's hop children", generated->task->name());
  }
  HookedTransformer model = load_model(checkpoint, vm, DeviceUse::kCpuOnly);
  const std::optional<MatchingRanges> trained = checkpoint_ranges(checkpoint);  // the metadata, read once
  MatchingOptions request;
  const TokenSet token_choice = token_set(vm["tokens"].as<std::string>(), model->config().d_vocab, trained);
  request.tokens = token_choice.ids;
  request.normalised = embeddings == "normalised";
  request.positional = vm["positional"].as<bool>();
  request.moved_queries = query == "moved";
  request.fusion_layer = vm["fusion-layer"].as<int64_t>();
  const int64_t fusion = request.fusion_layer;  // hop j is scored in layer F + j
  const MatchingScores scores = matching_scores(model, request);
  fmt::print(
      "matching scores over {} tokens ({}), embeddings: {}, queries: {}; score = mean row-softmax diagonal "
      "of M / sqrt(d_head), chance {:.4f}:\n",
      scores.tokens.size(), token_choice.description, scores.embeddings, scores.queries,
      1.0 / double(scores.tokens.size()));
  fmt::print("  {:<8} {:>8} {:>8} {:>8}   (heads of a layer ranked by score)\n", "head", "score", "top-1", "kernel");
  for (size_t i = 0; i < scores.layers.size(); ++i) {
    const torch::Tensor ranked = std::get<1>(scores.score[int64_t(i)].sort(/*dim=*/0, /*descending=*/true));
    for (int64_t r = 0; r < ranked.numel(); ++r) {
      const int64_t h = ranked[r].item<int64_t>();
      fmt::print("  L{}H{:<5} {:>8.4f} {:>8.4f} {:>8.4f}\n", scores.layers[i], h,
                 scores.score[int64_t(i)][h].item<float>(), scores.top1[int64_t(i)][h].item<float>(),
                 scores.kernel_score[int64_t(i)][h].item<float>());
    }
  }

  // Where the scored tokens' rows lie against the trained rows' principal subspace (docs/MATCHING.md,
  // "Scale and subspace"): only for checkpoints of the matching task, whose ID rows are the trained ones.
  std::optional<EmbeddingSubspace> subspace;
  if (trained) {
    const std::vector<int64_t> reference = matching_node_ids(*trained, /*ood=*/false);
    auto params = model->named_parameters();
    MECHLENS_CHECK(InputError, params.contains("embed.W_E") && reference.back() < model->config().d_vocab,
                   "{}: names a matching task but has no W_E row for each of its node ids", checkpoint);
    subspace = embedding_subspace(params["embed.W_E"], reference, scores.tokens, subspace_energy);
    fmt::print(
        "embedding subspace (ours): the in-distribution rows of W_E ({}..{}) hold {:g} of their squared norm in "
        "{} of {} directions; the scored rows hold a mean {:.3f} of theirs there (a random direction: {:.3f})\n",
        reference.front(), reference.back(), subspace->energy, subspace->dims, subspace->d_model,
        subspace->share.mean().item<double>(), double(subspace->dims) / double(subspace->d_model));
  }

  // Activation-based: layer F + j's attention from the answer position onto hop j's child (F the fusion layer).
  torch::Tensor activation;  // [hop, head, batch]
  std::vector<std::string> hop_names;
  if (generated) {
    const std::vector<PositionSpan> spans = task_spans(*generated->task, generated->examples);
    SpanAttentionOptions span_options;
    for (const PositionSpan& span : spans) {
      if (span.name.size() > 6 && span.name.compare(span.name.size() - 6, 6, "_child") == 0) {
        span_options.sources.push_back(span);
      }
    }
    const torch::Tensor tokens = equal_length_tokens(generated->prompts, "task matching", "matching scores");
    span_options.answer_pos = torch::full({tokens.size(0)}, tokens.size(1) - 1, torch::kLong);
    span_options.progress = !vm["quiet"].as<bool>();
    const SpanAttention attention = span_attention(model, tokens, span_options);
    std::vector<torch::Tensor> per_hop;
    for (int64_t j = 0; j < int64_t(span_options.sources.size()) && fusion + j + 1 < model->config().n_layers; ++j) {
      per_hop.push_back(attention.mass[fusion + j + 1].select(1, j));  // layer F+j+1, hop j+1's child: [head, batch]
      hop_names.push_back(span_options.sources[size_t(j)].name);
    }
    if (!per_hop.empty()) {
      activation = torch::stack(per_hop);
      fmt::print(
          "activation score: share of the answer position's attention in layer {} on hop j's child "
          "({} prompts; mean per head):\n",
          fusion > 0 ? fmt::format("{} + j", fusion) : "j", tokens.size(0));
      for (size_t j = 0; j < hop_names.size(); ++j) {
        const torch::Tensor mean = activation[int64_t(j)].mean(-1).contiguous();  // [head]
        const std::vector<float> heads(mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
        fmt::print("  L{} -> {:<12} {:.4f}\n", fusion + int64_t(j) + 1, hop_names[j], fmt::join(heads, "  "));
      }
    }
  }

  if (vm.count("out")) {
    const Provenance provenance = command_provenance("match", args, checkpoint, model->config(), options_json(vm));
    write_result_file(vm["out"].as<std::string>(), "mechlens-matching", 1, [&](H5::H5File& file) {
      write_provenance(file, provenance);
      H5::Group group = file.createGroup("matching");
      h5::write_attr(group, "embeddings", scores.embeddings);
      h5::write_attr(group, "queries", scores.queries);
      h5::write_attr(group, "fusion_layer", fusion);  // activation_score's hop j: layer F + j
      h5::write_attr(group, "tokens", token_choice.description);
      h5::write_attr(group, "score", std::string("mean over tokens of softmax(M / sqrt(d_head)) diagonal (ours)"));
      h5::write_attr(group, "kernel_score", std::string("(tr K)^2 / (d_model ||K||_F^2) (ours)"));
      write_tensor(group, "label_layer", torch::tensor(scores.layers, torch::kLong), {"layer"});
      write_tensor(group, "label_token", torch::tensor(scores.tokens, torch::kLong), {"token"});
      write_tensor(group, "score", scores.score, {"layer", "head"});
      write_tensor(group, "top1", scores.top1, {"layer", "head"});
      write_tensor(group, "kernel_score", scores.kernel_score, {"layer", "head"});
      write_tensor(group, "matrix", scores.matrix, {"layer", "head", "query_token", "key_token"});
      if (subspace) {
        h5::write_attr(group, "subspace_dims", subspace->dims);
        h5::write_attr(group, "subspace_energy", subspace->energy);
        write_tensor(group, "subspace_share", subspace->share, {"token"});
      }
      if (activation.defined()) {
        write_tensor(group, "activation_score", activation, {"hop", "head", "batch"});
        write_tensor(group, "activation_score_mean", activation.mean(-1), {"hop", "head"});
      }
    });
    fmt::print("wrote {}\n", vm["out"].as<std::string>());
  }
  return 0;
}

}  // namespace mechlens::cli
