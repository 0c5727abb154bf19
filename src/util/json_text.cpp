#include "util/json_text.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "util/error.h"

// MECHLENS_CHECK names error types in namespace mechlens; here the type is a template parameter.
#define JSON_FAIL(...) ::mechlens::detail::throw_error<ErrorType>(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__))
#define JSON_CHECK(cond, ...)            \
  do {                                   \
    if (!(cond)) JSON_FAIL(__VA_ARGS__); \
  } while (false)

namespace mechlens {
namespace {

// Deepest nesting of [ and { outside strings, counted without recursion.
int max_nesting(const std::string& text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

template <typename ErrorType>
nlohmann::json parse_json_text(const std::string& text, const std::string& what) {
  const int depth = max_nesting(text);
  JSON_CHECK(depth <= kMaxJsonDepth, "{}: JSON nests {} levels deep, expected at most {}", what, depth, kMaxJsonDepth);
  std::vector<std::set<std::string>> keys;  // keys seen in each open object
  std::string duplicate;
  auto on_event = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) keys.emplace_back();
    else if (event == Event::object_end && !keys.empty()) keys.pop_back();
    else if (event == Event::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
             duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json out;
  try {
    out = nlohmann::json::parse(text, on_event);
  } catch (const nlohmann::json::exception& e) {  // parse errors, and numbers beyond double (406)
    JSON_FAIL("{}: not valid JSON ({})", what, e.what());
  }
  JSON_CHECK(duplicate.empty(), "{}: key '{}' is given twice in one object; expected each key once", what, duplicate);
  return out;
}

template <typename ErrorType>
nlohmann::json read_json_file(const std::string& path) {
  std::error_code error;
  JSON_CHECK(std::filesystem::is_regular_file(path, error), "{}: {}", path,
             std::filesystem::exists(path, error) ? "is not a regular file, expected a JSON file"
                                                  : "no such file, expected a JSON file");
  std::ifstream in(path, std::ios::binary);
  JSON_CHECK(in.good(), "{}: cannot open for reading", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  JSON_CHECK(!in.bad(), "{}: read error", path);
  return parse_json_text<ErrorType>(buffer.str(), path);
}

#define MECHLENS_INSTANTIATE_JSON_TEXT(ErrorType)                                             \
  template nlohmann::json parse_json_text<ErrorType>(const std::string&, const std::string&); \
  template nlohmann::json read_json_file<ErrorType>(const std::string&);
MECHLENS_INSTANTIATE_JSON_TEXT(InputError)
MECHLENS_INSTANTIATE_JSON_TEXT(ConfigError)
MECHLENS_INSTANTIATE_JSON_TEXT(CheckpointError)
MECHLENS_INSTANTIATE_JSON_TEXT(StoreError)
#undef MECHLENS_INSTANTIATE_JSON_TEXT

std::vector<std::string> json_differences(const nlohmann::json& before, const nlohmann::json& after,
                                          const std::string& before_label, const std::string& after_label) {
  std::vector<std::string> differences;
  for (const auto& item : after.items()) {
    if (before.contains(item.key()) && before[item.key()] == item.value()) continue;
    differences.push_back(fmt::format("{}: {} {}, {} {}", item.key(), before_label,
                                      before.contains(item.key()) ? json_excerpt(before[item.key()]) : "(none)",
                                      after_label, json_excerpt(item.value())));
  }
  for (const auto& item : before.items()) {
    if (after.contains(item.key())) continue;
    differences.push_back(
        fmt::format("{}: {} {}, {} (none)", item.key(), before_label, json_excerpt(item.value()), after_label));
  }
  return differences;
}

std::string json_excerpt(const nlohmann::json& value, size_t max_chars) {
  std::string text = value.dump();
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  return text;
}

}  // namespace mechlens
