// mechlens error types and the MECHLENS_CHECK macro.
// Library code throws; only main() catches, prints and exits (1 for errors, 2 for usage).
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace mechlens {

/// Base of every error mechlens raises on bad input or misuse. what() is the message for the user;
/// location() the source file and line that raised it, for --verbose and for developers.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  const std::string& location() const { return location_; }
  void set_location(std::string location) { location_ = std::move(location); }

 private:
  std::string location_;
};
class ConfigError : public Error {  // invalid or inconsistent ModelConfig
 public:
  using Error::Error;
};
class CheckpointError : public Error {  // unreadable or mismatched checkpoint file
 public:
  using Error::Error;
};
class HookError : public Error {  // unknown hook name, bad replacement shape
 public:
  using Error::Error;
};
class InputError : public Error {  // bad tokens, shapes or options from the user
 public:
  using Error::Error;
};
class StoreError : public Error {  // unreadable, truncated or mismatched HDF5 record
 public:
  using Error::Error;
};

namespace detail {
template <typename E>
[[noreturn]] void throw_error(const char* file, int line, const std::string& message) {
  E error(message);
  error.set_location(fmt::format("{}:{}", file, line));
  throw error;
}
}  // namespace detail

}  // namespace mechlens

/// Throws ErrorType with a formatted message (and its file:line as location()) unless cond holds.
#define MECHLENS_CHECK(ErrorType, cond, ...)                                                                  \
  do {                                                                                                        \
    if (!(cond)) {                                                                                            \
      ::mechlens::detail::throw_error<::mechlens::ErrorType>(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
    }                                                                                                         \
  } while (false)

/// Throws ErrorType with a formatted message (and its file:line as location()).
#define MECHLENS_FAIL(ErrorType, ...) \
  ::mechlens::detail::throw_error<::mechlens::ErrorType>(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__))
