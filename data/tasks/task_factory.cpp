#include "tasks/task_factory.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "tasks/logic_task.h"
#include "tasks/logic_text_task.h"
#include "tasks/matching_task.h"
#include "util/error.h"
#include "util/parse.h"

namespace mechlens {
namespace {

std::map<std::string, std::string> parse_options(const std::string& task, const std::vector<std::string>& options,
                                                 const std::set<std::string>& known) {
  std::map<std::string, std::string> values;
  for (const auto& option : options) {
    const auto eq = option.find('=');
    MECHLENS_CHECK(InputError, eq != std::string::npos, "task option '{}' must be key=value", option);
    const std::string key = option.substr(0, eq);
    MECHLENS_CHECK(InputError, known.count(key) > 0, "{} task has no option '{}' (options: {})", task, key,
                   fmt::join(known, ", "));
    values[key] = option.substr(eq + 1);
  }
  return values;
}

int64_t to_int(const std::string& key, const std::string& text) {
  const std::optional<int64_t> value = parse_int(text);
  MECHLENS_CHECK(InputError, value.has_value(), "task option {}={} is not an integer", key, text);
  return *value;
}

}  // namespace

std::vector<std::string> override_task_options(std::vector<std::string> base,
                                               const std::vector<std::string>& overrides) {
  const auto key_of = [](const std::string& option) { return option.substr(0, option.find('=')); };
  for (const std::string& option : overrides) {
    const bool keyed = option.find('=') != std::string::npos;
    const auto same = std::find_if(base.begin(), base.end(), [&](const std::string& b) {
      return keyed && b.find('=') != std::string::npos && key_of(b) == key_of(option);
    });
    if (same != base.end()) *same = option;
    else base.push_back(option);
  }
  return base;
}

std::vector<std::string> task_names() { return {"matching", "logic", "logic-text"}; }

std::unique_ptr<Task> make_task(const std::string& name, const std::vector<std::string>& options,
                                std::shared_ptr<const TextCodec> codec) {
  if (name == "logic-text") {
    // tokenizer=DIR is read by the command line, which passes the tokenizer as `codec`.
    const auto values = parse_options(name, options, {"shots", "bos", "tokenizer"});
    LogicTextSettings settings;
    if (values.count("shots")) settings.shots = to_int("shots", values.at("shots"));
    if (values.count("bos")) settings.bos = to_int("bos", values.at("bos")) != 0;
    return std::make_unique<LogicTextTask>(settings, std::move(codec));
  }
  if (name == "matching") {
    const auto values = parse_options(name, options, {"layout", "split", "orders", "seq_len", "ranges"});
    MatchingSettings settings;
    if (values.count("layout")) settings.layout = parse_matching_layout(values.at("layout"));
    if (values.count("split")) settings.split = parse_matching_split(values.at("split"));
    if (values.count("seq_len")) settings.seq_len = to_int("seq_len", values.at("seq_len"));
    if (values.count("ranges")) settings.ranges = parse_matching_ranges(values.at("ranges"));
    if (values.count("orders")) {
      settings.orders.clear();
      std::stringstream stream(values.at("orders"));
      for (std::string item; std::getline(stream, item, ',');) settings.orders.push_back(to_int("orders", item));
    }
    return std::make_unique<MatchingTask>(settings);
  }
  if (name == "logic") {
    const auto values =
        parse_options(name, options, {"depth", "logop_share", "operator", "counterfactual", "proof_prefix", "format"});
    LogicSettings settings;
    if (values.count("depth")) settings.depth = to_int("depth", values.at("depth"));
    if (values.count("logop_share")) {
      const std::optional<double> share = parse_double(values.at("logop_share"));
      MECHLENS_CHECK(InputError, share.has_value(), "task option logop_share={} is not a number",
                     values.at("logop_share"));
      settings.logop_share = *share;
    }
    if (values.count("operator")) settings.op = parse_logic_operator(values.at("operator"));
    if (values.count("counterfactual"))
      settings.counterfactual = parse_logic_counterfactual(values.at("counterfactual"));
    if (values.count("format")) settings.format = parse_logic_format(values.at("format"));
    if (values.count("proof_prefix")) settings.proof_prefix = to_int("proof_prefix", values.at("proof_prefix"));
    return std::make_unique<LogicTask>(settings);
  }
  MECHLENS_FAIL(InputError, "unknown task '{}'; known tasks: {}", name, fmt::join(task_names(), ", "));
}

}  // namespace mechlens
