#include "patching/circuit.h"

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/index_spec.h"
#include "util/json_text.h"

namespace mechlens {

Circuit load_circuit(const std::string& path, const ModelConfig& config, int64_t n_positions) {
  const nlohmann::json json = read_json_file<InputError>(path);
  MECHLENS_CHECK(InputError, json.is_object() && json.contains("families") && json["families"].is_object(),
                 "{}: expected an object {{\"families\": {{\"NAME\": [heads...]}}}}", path);
  Circuit circuit;
  for (const auto& [family, heads] : json["families"].items()) {
    MECHLENS_CHECK(InputError, heads.is_array(), "{}: families.{} must be a list of heads", path, family);
    std::vector<CircuitHead> members;
    for (size_t i = 0; i < heads.size(); ++i) {
      const auto& entry = heads[i];
      const std::string field = fmt::format("families.{}[{}]", family, i);
      MECHLENS_CHECK(InputError,
                     entry.is_object() && entry.contains("layer") && entry.contains("head") &&
                         entry["layer"].is_number_integer() && entry["head"].is_number_integer(),
                     "{}: {} needs integer \"layer\" and \"head\"", path, field);
      CircuitHead head{entry["layer"].get<int64_t>(), entry["head"].get<int64_t>(), {}};
      MECHLENS_CHECK(InputError, head.layer >= 0 && head.layer < config.n_layers, "{}: {}.layer={} is outside 0..{}",
                     path, field, head.layer, config.n_layers - 1);
      MECHLENS_CHECK(InputError, head.head >= 0 && head.head < config.n_heads, "{}: {}.head={} is outside 0..{}", path,
                     field, head.head, config.n_heads - 1);
      if (entry.contains("positions")) {
        MECHLENS_CHECK(InputError, entry["positions"].is_string(), "{}: {}.positions must be a string like \"-5:\"",
                       path, field);
        head.positions = IndexSpec::parse(entry["positions"].get<std::string>(), field + ".positions")
                             .resolve(n_positions, fmt::format("the prompts ({} tokens)", n_positions));
      }
      members.push_back(std::move(head));
    }
    circuit.families.emplace_back(family, std::move(members));
  }
  MECHLENS_CHECK(InputError, !circuit.families.empty(), "{}: no families given", path);
  return circuit;
}

CircuitReport check_circuit(PatchingSession& session, const Circuit& circuit) {
  torch::NoGradGuard no_grad;
  HookedTransformer& model = session.model();
  const ModelConfig& config = model->config();
  const PatchingInputs& inputs = session.inputs();
  const int64_t batch = inputs.batch(), n_pos = inputs.positions(), heads = config.n_heads;

  // Variant r keeps the clean value of head (layer, h) at position p where keep[layer][r, p, h].
  std::vector<std::string> names{"circuit"};
  for (const auto& family : circuit.families) names.push_back("without " + family.first);
  names.push_back("no heads");
  const int64_t runs = int64_t(names.size());
  std::vector<torch::Tensor> keep(config.n_layers);
  for (auto& mask : keep) mask = torch::zeros({runs, n_pos, heads}, torch::kBool);
  for (size_t f = 0; f < circuit.families.size(); ++f) {
    for (const CircuitHead& head : circuit.families[f].second) {
      for (int64_t r = 0; r + 1 < runs; ++r) {
        if (r == int64_t(f) + 1) continue;                                          // this variant removes family f
        torch::Tensor column = keep[head.layer].select(0, r).select(1, head.head);  // [pos]
        if (head.positions.empty()) column.fill_(true);
        for (int64_t p : head.positions) column[p] = true;
      }
    }
  }

  HookScope scope;
  for (int64_t layer = 0; layer < config.n_layers; ++layer) {
    const std::string name = layer_hook_name(layer, "attn.hook_z");
    torch::Tensor corrupted = session.activation(false, name).unsqueeze(0);  // [1, batch, pos, head, d_head]
    // Heads outside the circuit take the corrupted value.
    torch::Tensor outside = keep[layer].logical_not().view({runs, 1, n_pos, heads, 1}).to(corrupted.device());
    scope.add(model->hook_point(name),
              [runs, batch, corrupted, outside](const torch::Tensor& act, const HookPointImpl&) {
                return replace_packed(act, runs, batch, outside, corrupted);
              });
  }
  torch::Tensor logits = model->forward(inputs.clean.repeat({runs, 1}));  // [runs*batch, pos, V]
  scope.release();
  torch::Tensor answer_pos = inputs.answer_pos.repeat({runs});
  torch::Tensor values = session.metric().per_run(logits.index({torch::arange(runs * batch), answer_pos}));

  CircuitReport report;
  report.clean_metric = session.clean_metric();
  report.corrupted_metric = session.corrupted_metric();
  torch::Tensor recovered = normalise(values, Direction::kDenoising, report.clean_metric, report.corrupted_metric);
  for (int64_t r = 0; r < runs; ++r) {
    report.variants.push_back({names[r], values[r].item<double>(), recovered[r].item<double>()});
  }
  return report;
}

}  // namespace mechlens
