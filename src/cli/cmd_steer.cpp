// `mechlens steer`: add α · direction to the residual stream entering a layer at one position of every
// prompt, for a sweep of α, and report what it does to the answer (and, with --decode, to the whole
// greedily generated answer); the direction is the difference of two groups' mean activations there,
// or a probe's; the per-example vectors' cosine similarities show how the groups cluster (docs/HEADS.md).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <optional>

#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/provenance.h"
#include "cli/steer_decoding.h"
#include "cli/task_input.h"
#include "cli/trace_inputs.h"
#include "heads/steering.h"
#include "hooks/hook_names.h"
#include "io/checkpoint.h"
#include "store/h5_util.h"
#include "store/result_file.h"
#include "util/error.h"
#include "util/parse.h"

namespace mechlens::cli {
namespace {

// Mean off-diagonal cosine similarity of the per-example vectors within each group and between them.
struct CosineSummary {
  double within_zero = 0, within_one = 0, between = 0;
};

CosineSummary summarise_cosines(const torch::Tensor& cosine, const torch::Tensor& labels) {
  const torch::Tensor one = labels.eq(1), zero = labels.eq(0);
  const torch::Tensor off_diagonal = torch::eye(cosine.size(0), torch::kBool).logical_not();
  auto mean_over = [&](const torch::Tensor& rows, const torch::Tensor& columns) {
    const torch::Tensor mask = rows.unsqueeze(1).logical_and(columns.unsqueeze(0)).logical_and(off_diagonal);
    return mask.any().item<bool>() ? cosine.masked_select(mask).mean().item<double>() : std::nan("");
  };
  return {mean_over(zero, zero), mean_over(one, one), mean_over(zero, one)};
}

// [batch, d_model] -> [batch, batch] cosine similarities; `centred`: after removing the mean vector,
// so that a component every example shares does not hide the groups.
torch::Tensor cosine_matrix(torch::Tensor vectors, bool centred) {
  vectors = vectors.to(torch::kFloat32);
  if (centred) vectors = vectors - vectors.mean(0, /*keepdim=*/true);
  const torch::Tensor unit = vectors / vectors.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);
  return unit.matmul(unit.t());
}

}  // namespace

int run_steer(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "model checkpoint (.safetensors); also the first argument")
      ("layer", po::value<int64_t>()->required(), "steer the residual stream entering this layer (blocks.L.hook_resid_pre)")
      ("at", po::value<std::string>()->required(), "the steered position: a named span (its first position) or a position")
      ("direction", po::value<std::string>()->required(), "mean-diff:NAME: mean activation of the prompts with the larger value of annotation NAME minus that of the others; probe:NAME: a linear probe's direction for the same groups, at the mean difference's length")
      ("probe-seed", po::value<int64_t>()->default_value(0), "with probe:NAME, the probe's train/test split")
      ("alphas", po::value<std::string>()->default_value("-4,-2,-1,0,1,2,4"), "multiples of the direction to add")
      ("batch", po::value<int64_t>()->default_value(512), "rows per forward")
      ("decode", po::bool_switch(), "also decode every prompt greedily under each alpha (steering held at the position) and count whole answers equal to the prompt's own and to the counterfactual's")
      ("out", po::value<std::string>(), "HDF5 file: the direction and every prompt's scores per alpha")
      ("quiet", po::bool_switch(), "no progress bar");
  // clang-format on
  add_task_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options("steer", "--checkpoint CK --task NAME --n N --layer L --at POS --direction mean-diff:NAME",
                     "Steering: add alpha x a direction (a difference of group means) to the residual stream at one "
                     "position, for a sweep of alpha, through the batched engine; the answer's accuracy, "
                     "probability, logit difference and switches to the counterfactual's answer (docs/HEADS.md).",
                     options, {}, args, vm)) {
    return 0;
  }
  if (!vm.count("task")) throw UsageError{"steer needs --task NAME --n N: the groups and answers are the task's"};
  const std::string direction_text = vm["direction"].as<std::string>();
  const bool from_probe = direction_text.rfind("probe:", 0) == 0;
  if (direction_text.rfind("mean-diff:", 0) != 0 && !from_probe)
    throw UsageError{fmt::format("--direction {}: expected mean-diff:NAME or probe:NAME", direction_text)};
  if (vm["probe-seed"].as<int64_t>() < 0) throw UsageError{"--probe-seed must be >= 0"};
  std::vector<double> alphas;
  for (const std::string& part : split_list(vm["alphas"].as<std::string>())) {
    const auto alpha = parse_double(part);
    if (!alpha) throw UsageError{fmt::format("--alphas: '{}' is not a number", part)};
    alphas.push_back(*alpha);
  }
  if (alphas.empty()) throw UsageError{"--alphas needs at least one value"};
  const int64_t max_batch = vm["batch"].as<int64_t>();
  if (max_batch < 1) throw UsageError{"--batch must be >= 1"};

  const std::string checkpoint = vm["checkpoint"].as<std::string>();
  TraceFileContents contents;
  std::string task_name;
  HookedTransformer model = load_model_and_prompts(vm, contents, task_name);
  require_unembedding(model, "steer");
  const AnswerPrompts& prompts = contents.prompts;
  const int64_t layer = vm["layer"].as<int64_t>();
  if (layer < 0 || layer >= model->config().n_layers)
    throw UsageError{
        fmt::format("--layer {} is outside the model's layers 0..{}", layer, model->config().n_layers - 1)};
  if (vm["at"].as<std::string>() == "answer")
    throw UsageError{"--at: give a named span or a position (the answer position is read, not steered)"};
  std::string at_name;
  const torch::Tensor positions = position_per_prompt(vm["at"].as<std::string>(), contents, true, at_name);
  const size_t colon = direction_text.find(':');
  const std::string kind = direction_text.substr(0, colon + 1), label_name = direction_text.substr(colon + 1);
  std::vector<std::string> label_values;
  const torch::Tensor labels = prompt_variable(label_name, "--direction " + kind, contents, label_values);
  if (label_values.size() != 2)
    throw UsageError{fmt::format("--direction {}{}: {} takes {} values here, expected two", kind, label_name,
                                 label_name, label_values.size())};
  const torch::Tensor resid =
      residual_entering(model, prompts.tokens, positions, layer, max_batch);  // [batch, d_model]
  const torch::Tensor mean_diff = mean_difference(resid, labels);
  double probe_accuracy = std::nan("");
  const torch::Tensor direction =
      from_probe
          ? probe_direction(resid, labels, static_cast<uint64_t>(vm["probe-seed"].as<int64_t>()), &probe_accuracy)
          : mean_diff;

  SteeringOptions steering = steering_at(positions, layer, alphas, max_batch);
  steering.progress = !vm["quiet"].as<bool>();
  const SteeringResult result = steer(model, prompts, direction, steering);
  std::optional<SteeredDecoding> decoding;
  if (vm["decode"].as<bool>()) {
    const TaskPrompts generated = generate_task_prompts(vm, /*pairs=*/true);  // the same prompts, with answers
    decoding = decode_steered(model, generated, direction, steering);
  }
  const torch::Tensor cosine = cosine_matrix(resid, /*centred=*/false), centred = cosine_matrix(resid, true);
  const CosineSummary raw_summary = summarise_cosines(cosine, labels);
  const CosineSummary centred_summary = summarise_cosines(centred, labels);

  if (from_probe) {
    fmt::print(
        "steering blocks.{}.hook_resid_pre at {} along a probe's direction for {} (held-out accuracy {:.3f}; "
        "cosine to mean({}=1) - mean({}=0): {:.3f}; norm {:.3f}); {} prompts\n",
        layer, at_name, label_name, probe_accuracy, label_name, label_name,
        torch::cosine_similarity(direction, mean_diff, 0).item<double>(), direction.norm().item<double>(),
        prompts.batch());
  } else {
    fmt::print("steering blocks.{}.hook_resid_pre at {} along mean({}=1) - mean({}=0) (norm {:.3f}); {} prompts\n",
               layer, at_name, label_name, label_name, direction.norm().item<double>(), prompts.batch());
  }
  fmt::print(
      "per-example vectors there, mean cosine within {0}=0 / within {0}=1 / between: {1:.3f} / {2:.3f} / {3:.3f} "
      "(after removing their mean: {4:.3f} / {5:.3f} / {6:.3f})\n",
      label_name, raw_summary.within_zero, raw_summary.within_one, raw_summary.between, centred_summary.within_zero,
      centred_summary.within_one, centred_summary.between);
  fmt::print("{:>7} {:>6} | {:>9} {:>9} {:>9} {:>14} | by {}: accuracy 0 / 1, to the counterfactual 0 / 1{}\n", "alpha",
             "", "accuracy", "p(answer)", "logit diff", "counterfactual", label_name,
             decoding ? " | decoded answer: own, counterfactual's (mean agreeing prefix)" : "");
  const torch::Tensor is_one = labels.eq(1), is_zero = labels.eq(0);
  for (size_t a = 0; a < alphas.size(); ++a) {
    const int64_t i = int64_t(a);
    auto mean_of = [&](const torch::Tensor& t, const torch::Tensor& mask) {
      return t[i].index({mask}).mean().item<double>();
    };
    const std::string decoded =
        decoding ? fmt::format(" | {:.3f}, {:.3f} ({:.1f}, {:.1f} tokens)",
                               decoding->own_answer[i].to(torch::kFloat64).mean().item<double>(),
                               decoding->counterfactual_answer[i].to(torch::kFloat64).mean().item<double>(),
                               decoding->own_prefix[i].to(torch::kFloat64).mean().item<double>(),
                               decoding->counterfactual_prefix[i].to(torch::kFloat64).mean().item<double>())
                 : "";
    fmt::print("{:>7.3g} {:>6} | {:>9.3f} {:>9.3f} {:>9.3f} {:>14.3f} | {:.3f} / {:.3f}, {:.3f} / {:.3f}{}\n",
               alphas[a], "", result.correct[i].mean().item<double>(), result.prob[i].mean().item<double>(),
               result.logit_diff[i].mean().item<double>(), result.to_wrong[i].mean().item<double>(),
               mean_of(result.correct, is_zero), mean_of(result.correct, is_one), mean_of(result.to_wrong, is_zero),
               mean_of(result.to_wrong, is_one), decoded);
  }
  if (vm.count("out")) {
    const Provenance provenance = command_provenance("steer", args, checkpoint, model->config(), options_json(vm));
    write_result_file(vm["out"].as<std::string>(), "mechlens-steering", 1, [&](H5::H5File& file) {
      write_provenance(file, provenance);
      H5::Group group = file.createGroup("steering");
      h5::write_attr(group, "hook", layer_hook_name(layer, "hook_resid_pre"));
      h5::write_attr(group, "at", at_name);
      h5::write_attr(group, "direction_from", direction_text);
      write_tensor(group, "direction", direction, {"d_model"});
      write_tensor(group, "label_alpha", torch::tensor(alphas, torch::kFloat64), {"alpha"});
      write_tensor(group, "labels", labels, {"batch"});
      write_tensor(group, "positions", positions, {"batch"});
      write_tensor(group, "prob", result.prob, {"alpha", "batch"});
      write_tensor(group, "logit_diff", result.logit_diff, {"alpha", "batch"});
      write_tensor(group, "correct", result.correct, {"alpha", "batch"});
      write_tensor(group, "to_counterfactual", result.to_wrong, {"alpha", "batch"});
      write_tensor(group, "cosine", cosine, {"batch", "other"});
      write_tensor(group, "cosine_centred", centred, {"batch", "other"});
      if (decoding) {
        write_tensor(group, "decoded_own_answer", decoding->own_answer, {"alpha", "batch"});
        write_tensor(group, "decoded_counterfactual_answer", decoding->counterfactual_answer, {"alpha", "batch"});
        write_tensor(group, "decoded_own_prefix", decoding->own_prefix, {"alpha", "batch"});
        write_tensor(group, "decoded_counterfactual_prefix", decoding->counterfactual_prefix, {"alpha", "batch"});
        write_tensor(group, "decoded_tokens", decoding->tokens, {"alpha", "batch", "answer_pos"});
      }
    });
    fmt::print("wrote {}\n", vm["out"].as<std::string>());
  }
  return 0;
}

}  // namespace mechlens::cli
