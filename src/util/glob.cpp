#include "util/glob.h"

#include <fnmatch.h>

#include <string>

namespace mechlens {

bool glob_match(std::string_view pattern, std::string_view text) {
  // POSIX fnmatch without FNM_PATHNAME/FNM_PERIOD: '*' also crosses the dots of hook names.
  return fnmatch(std::string(pattern).c_str(), std::string(text).c_str(), 0) == 0;
}

bool is_glob(std::string_view pattern) { return pattern.find_first_of("*?[") != std::string_view::npos; }

}  // namespace mechlens
