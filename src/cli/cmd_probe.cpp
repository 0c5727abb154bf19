// `mechlens probe`: linear probes for a task variable at one position, on the residual stream before
// every layer (and after the last) or on every head's output (hook_z), with the control task and its
// selectivity, the majority baseline and the same probes on a randomly initialised model (docs/HEADS.md).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <limits>

#include "cli/command.h"
#include "cli/model_loading.h"
#include "cli/options.h"
#include "cli/provenance.h"
#include "cli/task_input.h"
#include "cli/trace_inputs.h"
#include "engine/activations_at.h"
#include "heads/probes.h"
#include "hooks/hook_names.h"
#include "io/checkpoint.h"
#include "store/h5_util.h"
#include "store/result_file.h"
#include "util/error.h"
#include "util/parse.h"

namespace mechlens::cli {
namespace {

// Activations at each prompt's position: [stage, batch, d_model] for the residual stream before every
// layer and after the last, or [layer, batch, head, d_head] for hook_z.
torch::Tensor collect(HookedTransformer& model, const torch::Tensor& tokens, const torch::Tensor& positions, bool heads,
                      int64_t max_batch) {
  const int64_t L = model->config().n_layers;
  std::vector<std::string> names = residual_stage_hooks(L);
  if (heads) {
    names.clear();
    for (int64_t layer = 0; layer < L; ++layer) names.push_back(layer_hook_name(layer, "attn.hook_z"));
  }
  return torch::stack(activations_at(model, tokens, positions, names, max_batch));
}

struct ProbeTable {
  torch::Tensor test, train, control, random_init;  // [unit]
};

// One probe per unit (stage, or layer × head) on the model's and the random model's activations.
ProbeTable run_probes(const torch::Tensor& acts, const torch::Tensor& random_acts, const torch::Tensor& labels,
                      const torch::Tensor& control, const ProbeSplit& split, const ProbeOptions& options) {
  std::vector<torch::Tensor> units, random_units;
  if (acts.dim() == 3) {
    for (int64_t s = 0; s < acts.size(0); ++s) units.push_back(acts[s]), random_units.push_back(random_acts[s]);
  } else {  // [layer, batch, head, d_head] -> one unit per (layer, head)
    for (int64_t l = 0; l < acts.size(0); ++l)
      for (int64_t h = 0; h < acts.size(2); ++h)
        units.push_back(acts[l].select(1, h)), random_units.push_back(random_acts[l].select(1, h));
  }
  const int64_t n = int64_t(units.size());
  ProbeTable table{torch::zeros({n}), torch::zeros({n}), torch::zeros({n}), torch::zeros({n})};
  for (int64_t u = 0; u < n; ++u) {
    const ProbeFit fit = fit_probe(units[size_t(u)], labels, split, options);
    table.test[u] = fit.test_accuracy;
    table.train[u] = fit.train_accuracy;
    // One input type (the same token at the probed position in every prompt) makes the control task
    // constant: no control, rather than a trivial 1.
    table.control[u] = control.defined() ? fit_probe(units[size_t(u)], control, split, options).test_accuracy
                                         : std::numeric_limits<double>::quiet_NaN();
    table.random_init[u] = fit_probe(random_units[size_t(u)], labels, split, options).test_accuracy;
  }
  return table;
}

}  // namespace

int run_probe(const std::vector<std::string>& args) {
  po::options_description options("options");
  // clang-format off
  options.add_options()
      ("checkpoint", po::value<std::string>()->required(), "model checkpoint (.safetensors); also the first argument")
      ("label", po::value<std::string>()->required(), "what to probe for: an annotation of the task (queried_chain, truths[1]) or group")
      ("at", po::value<std::string>()->default_value("answer"), "the probed position: answer, a named span (its first position) or a position")
      ("on", po::value<std::string>()->default_value("resid"), "resid (the residual stream before every layer and after the last) or z (every head's output)")
      ("train-share", po::value<double>()->default_value(0.8), "share of the prompts the probes train on; the rest is held out")
      ("weight-decay", po::value<double>()->default_value(1e-3), "L2 penalty on the probe's weights")
      ("iterations", po::value<int64_t>()->default_value(100), "L-BFGS iterations per probe")
      ("probe-seed", po::value<int64_t>()->default_value(0), "seed of the split and of the control task's labels")
      ("batch", po::value<int64_t>()->default_value(64), "prompts per forward")
      ("out", po::value<std::string>(), "HDF5 file: accuracies, control task, baselines, split indices");
  // clang-format on
  add_task_options(options);
  add_weight_processing_options(options);
  po::variables_map vm;
  if (!parse_options("probe", "--checkpoint CK --task NAME --n N --label VAR [--at POS] [--on resid|z] [--out F.h5]",
                     "Linear probes for a task variable at one position, per layer (or per head), with the control "
                     "task, selectivity, and majority and random-model baselines (docs/HEADS.md).",
                     options, {}, args, vm)) {
    return 0;
  }
  if (!vm.count("task")) throw UsageError{"probe needs --task NAME --n N: the labels are the task's annotations"};
  const std::string on = vm["on"].as<std::string>();
  if (on != "resid" && on != "z") throw UsageError{fmt::format("--on {}: expected resid or z", on)};
  ProbeOptions probe_options;
  probe_options.train_share = vm["train-share"].as<double>();
  probe_options.weight_decay = vm["weight-decay"].as<double>();
  probe_options.max_iterations = vm["iterations"].as<int64_t>();
  if (vm["probe-seed"].as<int64_t>() < 0) throw UsageError{"--probe-seed must be >= 0"};
  probe_options.seed = uint64_t(vm["probe-seed"].as<int64_t>());
  const int64_t batch = vm["batch"].as<int64_t>();
  if (batch < 1) throw UsageError{"--batch must be >= 1"};

  const std::string checkpoint = vm["checkpoint"].as<std::string>();
  TraceFileContents contents;
  std::string task_name;
  HookedTransformer model = load_model_and_prompts(vm, contents, task_name);
  std::vector<std::string> label_values;
  const torch::Tensor labels = prompt_variable(vm["label"].as<std::string>(), "--label", contents, label_values);
  if (label_values.size() > 100)
    throw UsageError{
        fmt::format("--label {}: {} classes (at most 100)", vm["label"].as<std::string>(), label_values.size())};
  std::string at_name;
  const torch::Tensor positions = position_per_prompt(vm["at"].as<std::string>(), contents, true, at_name);
  const torch::Tensor& tokens = contents.prompts.tokens;
  const torch::Tensor types = tokens.gather(1, positions.unsqueeze(1)).squeeze(1);  // the token probed at
  const ProbeSplit split = probe_split(tokens.size(0), probe_options.train_share, probe_options.seed);
  const bool varied_types = std::get<0>(at::_unique(types)).numel() >= 2;
  const torch::Tensor control = varied_types ? control_labels(types, labels, probe_options.seed) : torch::Tensor();

  // The same architecture with other random weights: what the probe finds without training.
  ModelConfig random_config = model->config();
  random_config.seed += 1;
  HookedTransformer random_model(random_config);
  random_model->eval();
  const bool heads = on == "z";
  const torch::Tensor acts = collect(model, tokens, positions, heads, batch);
  const torch::Tensor random_acts = collect(random_model, tokens, positions, heads, batch);
  const ProbeTable table = run_probes(acts, random_acts, labels, control, split, probe_options);
  const double majority = majority_baseline(labels, split);

  fmt::print("probe for {} ({} classes) at {}; {} train / {} held-out prompts; majority baseline {:.3f}\n",
             vm["label"].as<std::string>(), label_values.size(), vm["at"].as<std::string>(), split.train.numel(),
             split.test.numel(), majority);
  if (!varied_types) {
    fmt::print("every prompt holds the same token at {}: no control task (its labels would be constant)\n",
               vm["at"].as<std::string>());
  }
  fmt::print("{:<22} {:>9} {:>9} {:>9} {:>11} {:>12}\n", heads ? "head" : "stage", "held-out", "train", "control",
             "selectivity", "random model");
  const int64_t L = model->config().n_layers, H = model->config().n_heads;
  std::vector<std::string> unit_names;
  for (int64_t u = 0; u < table.test.numel(); ++u) {
    unit_names.push_back(heads   ? fmt::format("L{}H{}", u / H, u % H)
                         : u < L ? fmt::format("before layer {}", u)
                                 : std::string("after the last layer"));
    fmt::print("{:<22} {:>9.3f} {:>9.3f} {:>9.3f} {:>11.3f} {:>12.3f}\n", unit_names.back(),
               table.test[u].item<double>(), table.train[u].item<double>(), table.control[u].item<double>(),
               table.test[u].item<double>() - table.control[u].item<double>(), table.random_init[u].item<double>());
  }
  if (vm.count("out")) {
    const Provenance provenance = command_provenance("probe", args, checkpoint, model->config(), options_json(vm));
    write_result_file(vm["out"].as<std::string>(), "mechlens-probe", 1, [&](H5::H5File& file) {
      write_provenance(file, provenance);
      H5::Group group = file.createGroup("probe");
      h5::write_attr(group, "label", vm["label"].as<std::string>());
      h5::write_attr(group, "at", vm["at"].as<std::string>());
      h5::write_attr(group, "on", on);
      h5::write_attr(group, "majority_baseline", majority);
      h5::write_strings(group, "label_unit", unit_names);
      h5::write_strings(group, "label_class", label_values);
      write_tensor(group, "test_accuracy", table.test, {"unit"});
      write_tensor(group, "train_accuracy", table.train, {"unit"});
      write_tensor(group, "control_accuracy", table.control, {"unit"});
      write_tensor(group, "selectivity", table.test - table.control, {"unit"});
      write_tensor(group, "random_model_accuracy", table.random_init, {"unit"});
      write_tensor(group, "labels", labels, {"batch"});
      if (control.defined()) write_tensor(group, "control_labels", control, {"batch"});
      write_tensor(group, "positions", positions, {"batch"});
      write_tensor(group, "train_index", split.train, {"train"});
      write_tensor(group, "test_index", split.test, {"test"});
    });
    fmt::print("wrote {}\n", vm["out"].as<std::string>());
  }
  return 0;
}

}  // namespace mechlens::cli
