// `mechlens probe`: linear probes for a task variable at one position, on the residual stream before
// every layer (and after the last) or on every head's output (hook_z), with the control task and its
// selectivity, the majority baseline and the same probes on a randomly initialised model (docs/HEADS.md).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <limits>

#include "cli/command.h"
#include "cli/options.h"
#include "cli/provenance.h"
#include "cli/task_input.h"
#include "cli/trace_inputs.h"
#include "heads/probes.h"
#include "hooks/hook_names.h"
#include "hooks/hook_point.h"
#include "io/checkpoint.h"
#include "store/h5_util.h"
#include "store/result_file.h"
#include "util/error.h"
#include "util/parse.h"

namespace mechlens::cli {
namespace {

// --label NAME or NAME[c]: an annotation with one value per prompt (or that column), or "group";
// returned as class codes 0..k-1 with the values they stand for.
torch::Tensor probe_labels(const std::string& text, const TraceFileContents& contents,
                           std::vector<std::string>& values) {
  torch::Tensor raw;
  if (text == "group") {
    std::vector<int64_t> codes;
    for (const std::string& g : contents.prompt_groups) {
      const auto it = std::find(values.begin(), values.end(), g);
      codes.push_back(it - values.begin());
      if (it == values.end()) values.push_back(g);
    }
    return torch::tensor(codes, torch::kLong);
  }
  std::string name = text;
  int64_t column = 0;
  if (const size_t bracket = text.find('['); bracket != std::string::npos && text.back() == ']') {
    name = text.substr(0, bracket);
    const auto parsed = parse_int(text.substr(bracket + 1, text.size() - bracket - 2));
    if (!parsed || *parsed < 0) throw UsageError{fmt::format("--label {}: the column must be a number >= 0", text)};
    column = *parsed;
  }
  std::vector<std::string> names;
  for (const auto& [annotation, tensor] : contents.annotations) {
    names.push_back(annotation);
    if (annotation != name) continue;
    const torch::Tensor values_2d = tensor.dim() == 1 ? tensor.unsqueeze(1) : tensor;
    if (column >= values_2d.size(1))
      throw UsageError{fmt::format("--label {}: {} has {} columns", text, name, values_2d.size(1))};
    raw = values_2d.select(1, column);
  }
  if (!raw.defined())
    throw UsageError{fmt::format("--label {}: the task annotates {} (or use group)", text, fmt::join(names, ", "))};
  const auto [unique, codes] = at::_unique(raw.to(torch::kLong).contiguous(), true, true);
  if (unique.numel() < 2) throw UsageError{fmt::format("--label {}: every prompt has the same value", text)};
  if (unique.numel() > 100) throw UsageError{fmt::format("--label {}: {} classes (at most 100)", text, unique.numel())};
  for (int64_t i = 0; i < unique.numel(); ++i) values.push_back(std::to_string(unique[i].item<int64_t>()));
  return codes;
}

// Activations at each prompt's position: [stage, batch, d_model] for the residual stream before every
// layer and after the last, or [layer, batch, head, d_head] for hook_z.
torch::Tensor collect(HookedTransformer& model, const torch::Tensor& tokens, const torch::Tensor& positions, bool heads,
                      int64_t max_batch) {
  const int64_t L = model->config().n_layers, batch = tokens.size(0);
  std::vector<std::vector<torch::Tensor>> parts(size_t(heads ? L : L + 1));
  torch::NoGradGuard no_grad;
  for (int64_t start = 0; start < batch; start += max_batch) {
    const int64_t count = std::min(max_batch, batch - start);
    const torch::Tensor pos = positions.narrow(0, start, count), rows = torch::arange(count);
    HookScope scope;
    for (int64_t stage = 0; stage < int64_t(parts.size()); ++stage) {
      const std::string name = heads       ? layer_hook_name(stage, "attn.hook_z")
                               : stage < L ? layer_hook_name(stage, "hook_resid_pre")
                                           : layer_hook_name(L - 1, "hook_resid_post");
      scope.add(model->hook_point(name), [&, stage](const torch::Tensor& x, const HookPointImpl&) {
        parts[size_t(stage)].push_back(x.index({rows, pos}).to(torch::kCPU));
        return torch::Tensor();
      });
    }
    model->forward(tokens.narrow(0, start, count));
  }
  std::vector<torch::Tensor> stages;
  for (auto& p : parts) stages.push_back(torch::cat(p));
  return torch::stack(stages);
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
      ("checkpoint", po::value<std::string>()->required(), "model checkpoint (.safetensors)")
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
  check_checkpoint_task(checkpoint, vm["task"].as<std::string>());
  HookedTransformer model = load_checkpoint(checkpoint);
  model->eval();
  TraceFileContents contents;
  std::string task_name;
  load_trace_prompts(vm, model, contents, task_name);
  std::vector<std::string> label_values;
  const torch::Tensor labels = probe_labels(vm["label"].as<std::string>(), contents, label_values);
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
