// The CSV of `mechlens eval --csv`: one row per group with every number exactly as computed, and
// empty cells (not zeros) where a group has no value.
#include <gtest/gtest.h>

#include <sstream>

#include "train/eval_table.h"

namespace mechlens {
namespace {

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream fields(line);
    while (std::getline(fields, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");  // a trailing empty cell
    rows.push_back(cells);
  }
  return rows;
}

std::map<std::string, GroupMetrics> two_groups() {
  return {{"ood_decoy", {10, 2.5, 0.1, 0.05}}, {"test", {20, 0.125, 1.0 / 3.0, 0.25}}};
}

TEST(EvalTableTest, MetricsOnlyHaveOneRowPerGroupWithExactValues) {
  const auto rows = parse_csv(eval_table_csv(two_groups(), nullptr));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"group", "n", "loss", "first_token_acc", "exact_match"}));
  EXPECT_EQ(rows[2][0], "test");
  EXPECT_EQ(rows[2][1], "20");
  EXPECT_EQ(std::stod(rows[2][2]), 0.125);
  EXPECT_EQ(std::stod(rows[2][3]), 1.0 / 3.0);  // full precision: the value round-trips
  EXPECT_EQ(std::stod(rows[1][4]), 0.05);
}

TEST(EvalTableTest, HopColumnsFollowAndGroupsWithoutAValueGetEmptyCells) {
  HopsTaken hops;
  hops.max_distance = 2;
  hops.share = {{"ood_decoy", {0.0, 0.5, 0.25}}, {"test", {0.0, 0.0, 0.75}}};
  hops.elsewhere = {{"ood_decoy", 0.25}, {"test", 0.25}};
  hops.not_in_prompt = {{"ood_decoy", 0.125}, {"test", 0.0}};
  hops.decoy = {{"ood_decoy", 0.5}};  // only the decoy split has a decoy
  const auto rows = parse_csv(eval_table_csv(two_groups(), &hops));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"group", "n", "loss", "first_token_acc", "exact_match", "d=0", "d=1",
                                               "d=2", "elsewhere", "not_in_prompt", "decoy"}));
  for (const auto& row : rows) ASSERT_EQ(row.size(), rows[0].size());
  EXPECT_EQ(std::stod(rows[1][6]), 0.5);    // ood_decoy, d=1
  EXPECT_EQ(std::stod(rows[1][9]), 0.125);  // ood_decoy, not_in_prompt
  EXPECT_EQ(std::stod(rows[1][10]), 0.5);   // ood_decoy, decoy
  EXPECT_EQ(std::stod(rows[2][7]), 0.75);   // test, d=2
  EXPECT_EQ(rows[2][10], "");               // test has no decoy
}

}  // namespace
}  // namespace mechlens
