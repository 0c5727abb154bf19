#include "util/index_spec.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

using Indices = std::vector<int64_t>;

TEST(IndexSpecTest, PythonStyleSelections) {
  EXPECT_TRUE(IndexSpec::parse("all", "--positions").is_all());
  EXPECT_EQ(IndexSpec::parse("all", "--positions").resolve(3, "x"), (Indices{0, 1, 2}));
  EXPECT_EQ(IndexSpec::parse("-1", "--positions").resolve(7, "x"), (Indices{6}));
  EXPECT_EQ(IndexSpec::parse("-5:", "--positions").resolve(7, "x"), (Indices{2, 3, 4, 5, 6}));
  EXPECT_EQ(IndexSpec::parse("2:4", "--positions").resolve(7, "x"), (Indices{2, 3}));
  EXPECT_EQ(IndexSpec::parse(":2,-1", "--positions").resolve(7, "x"), (Indices{0, 1, 6}));
  EXPECT_EQ(IndexSpec::parse("0,3", "--heads").resolve(4, "x"), (Indices{0, 3}));
}

TEST(IndexSpecTest, ErrorsNameOptionAndContext) {
  EXPECT_TRUE(testing::throws_with<InputError>([] { IndexSpec::parse("a:3", "--heads"); },
                                               "--heads 'a:3': 'a' is not an integer"));
  EXPECT_TRUE(testing::throws_with<InputError>([] { IndexSpec::parse("4", "--heads").resolve(4, "4 heads"); },
                                               "index 4 is outside 4 heads"));
  EXPECT_TRUE(testing::throws_with<InputError>(
      [] { IndexSpec::parse("-5:", "--positions").resolve(3, "prompt 2 (3 tokens)"); }, "prompt 2 (3 tokens)"));
  // A slice past the end and an empty slice are told apart.
  EXPECT_TRUE(
      testing::throws_with<InputError>([] { IndexSpec::parse("1:300", "--tokens").resolve(201, "201 ids"); },
                                       "--tokens '1:300': slice 1..299 reaches outside 201 ids (valid 0..200)"));
  EXPECT_TRUE(testing::throws_with<InputError>([] { IndexSpec::parse("5:1", "--tokens").resolve(201, "201 ids"); },
                                               "slice selects nothing of 201 ids (start 5 is not before stop 1)"));
}

}  // namespace
}  // namespace mechlens
