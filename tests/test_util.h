// Shared helpers for the mechlens test suites: tiny configs, seeded tokens and tensor comparison
// that reports max |diff| and the first failing index.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "runtime/config.h"
#include "util/shape_format.h"

namespace mechlens::testing {

inline ModelConfig tiny_config() {
  ModelConfig config;
  config.n_layers = 2;
  config.d_model = 16;
  config.n_heads = 4;
  config.d_head = 4;
  config.d_mlp = 32;
  config.n_ctx = 12;
  config.d_vocab = 23;
  config.seed = 7;
  return config;
}

/// A named change to tiny_config(), for parameterised tests over architecture variants.
struct ConfigVariant {
  const char* name;
  void (*apply)(ModelConfig&);
};

// gtest prints a variant by its name, and test names end with it (INSTANTIATE_TEST_SUITE_P's last argument).
inline void PrintTo(const ConfigVariant& variant, std::ostream* os) { *os << variant.name; }
inline std::string variant_name(const ::testing::TestParamInfo<ConfigVariant>& info) { return info.param.name; }

// Variants several suites sweep.
inline const ConfigVariant kPreLn{"pre_ln", [](ModelConfig&) {}};
inline const ConfigVariant kPostLn{"post_ln", [](ModelConfig& c) { c.norm_placement = NormPlacement::kPost; }};
inline const ConfigVariant kAttnOnly{"attn_only", [](ModelConfig& c) { c.d_mlp = 0; }};
inline const ConfigVariant kPostLnAttnOnly{"post_ln_attn_only", [](ModelConfig& c) {
                                             c.d_mlp = 0;
                                             c.norm_placement = NormPlacement::kPost;
                                           }};
inline const ConfigVariant kRotary{"rotary", [](ModelConfig& c) {
                                     c.positional_embedding_type = PositionalEmbedding::kRotary;
                                     c.rotary_dim = 2;
                                   }};
inline const ConfigVariant kNoNorm{"no_norm", [](ModelConfig& c) { c.normalization_type = NormType::kNone; }};

inline torch::Tensor random_tokens(int64_t batch, int64_t pos, int64_t d_vocab, uint64_t seed = 1) {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  return torch::randint(d_vocab, {batch, pos}, generator, torch::kLong);
}

inline ::testing::AssertionResult tensors_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                                double tolerance) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shape " << format_shape(actual.sizes()) << " vs expected "
                                         << format_shape(expected.sizes());
  }
  torch::Tensor diff = (actual.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs();
  diff = diff.masked_fill(actual.isinf().logical_and(actual.eq(expected)), 0.0);  // equal infinities
  const double max_diff = diff.numel() ? diff.max().item<double>() : 0.0;
  if (max_diff <= tolerance && !diff.isnan().any().item<bool>()) return ::testing::AssertionSuccess();
  const int64_t flat = diff.nan_to_num(1e30).flatten().argmax().item<int64_t>();
  return ::testing::AssertionFailure() << "max |diff| " << max_diff << " > " << tolerance << " at flat index " << flat
                                       << " (actual " << actual.flatten()[flat].item<double>() << ", expected "
                                       << expected.flatten()[flat].item<double>() << ")";
}

inline ::testing::AssertionResult tensors_equal(const torch::Tensor& actual, const torch::Tensor& expected) {
  if (actual.sizes() == expected.sizes() && torch::equal(actual, expected)) return ::testing::AssertionSuccess();
  return tensors_close(actual, expected, 0.0) << " (bit-exact equality expected)";
}

/// A fresh directory named after the running test, removed when the object goes out of scope.
class TestDir {
 public:
  TestDir()
      : path_(std::filesystem::temp_directory_path() /
              ("mechlens_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name()) +
               "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TestDir() { std::filesystem::remove_all(path_); }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Asserts that `fn` throws ErrorType whose message contains `needle`.
template <typename ErrorType, typename Fn>
::testing::AssertionResult throws_with(Fn&& fn, const std::string& needle) {
  try {
    fn();
  } catch (const ErrorType& e) {
    const std::string message = e.what();
    if (message.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << needle << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another type: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace mechlens::testing
