// Builds a task from its name and key=value options, as given on the command line:
//   matching: layout=single_chain|noised_double_chain|single_chain_with_order, split=train|test|ood,
//             orders=2 (or 1,2,3), seq_len=13
//   logic:    depth=3, logop_share=0.8, operator=or|and
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace mechlens {

std::unique_ptr<Task> make_task(const std::string& name, const std::vector<std::string>& options);

/// Task names make_task knows.
std::vector<std::string> task_names();

}  // namespace mechlens
