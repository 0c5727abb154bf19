// Builds a task from its name and key=value options, as given on the command line:
//   matching: layout=single_chain|noised_double_chain|single_chain_with_order, split=train|test|ood,
//             orders=2 (or 1,2,3), seq_len=13
//   logic:    depth=3, logop_share=0.8, operator=or|and, counterfactual=..., proof_prefix=K, format=...
//   logic-text: shots=4, bos=1 (the paper's LLM prompts; needs a tokenizer as `codec`)
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tasks/task.h"
#include "tasks/text_codec.h"

namespace mechlens {

/// `codec`: the tokenizer of tasks that write text (logic-text); ignored by the others.
std::unique_ptr<Task> make_task(const std::string& name, const std::vector<std::string>& options,
                                std::shared_ptr<const TextCodec> codec = nullptr);

/// `base` with `overrides` applied by key, as make_task reads them: an override replaces the base's
/// option of its key where that stands; options of new keys follow, in the overrides' order (a later
/// override of the same key wins). An option without '=' is kept as it is, for make_task to refuse.
/// {"layout=x", "orders=1,2"} overridden by {"orders=1", "split=test"} is {"layout=x", "orders=1", "split=test"}.
std::vector<std::string> override_task_options(std::vector<std::string> base,
                                               const std::vector<std::string>& overrides);

/// Task names make_task knows.
std::vector<std::string> task_names();

}  // namespace mechlens
