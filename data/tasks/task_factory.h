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

/// Task names make_task knows.
std::vector<std::string> task_names();

}  // namespace mechlens
