// mechlens error types and the MECHLENS_CHECK macro.
// Library code throws; only main() catches, prints and exits (1 for errors, 2 for usage).
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace mechlens {

/// Base of every error mechlens raises on bad input or misuse.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
  throw E(fmt::format("{} [{}:{}]", message, file, line));
}
}  // namespace detail

}  // namespace mechlens

/// Throws ErrorType with a formatted message (plus file:line) unless cond holds.
#define MECHLENS_CHECK(ErrorType, cond, ...)                                                  \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      ::mechlens::detail::throw_error<::mechlens::ErrorType>(__FILE__, __LINE__,               \
                                                             ::fmt::format(__VA_ARGS__));      \
    }                                                                                         \
  } while (false)

/// Throws ErrorType with a formatted message (plus file:line).
#define MECHLENS_FAIL(ErrorType, ...) \
  ::mechlens::detail::throw_error<::mechlens::ErrorType>(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__))
