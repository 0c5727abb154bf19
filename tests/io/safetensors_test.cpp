#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

namespace fs = std::filesystem;

std::string temp_file(const std::string& name) { return (fs::temp_directory_path() / name).string(); }

void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t size = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(size >> (8 * i)));
  out << header << data;
}

TEST(SafetensorsTest, RoundTripKeepsOrderDtypesAndMetadata) {
  const std::string path = temp_file("mechlens_st_roundtrip.safetensors");
  NamedTensors tensors{{"z", torch::arange(6, torch::kFloat32).view({2, 3})},
                       {"a", torch::tensor({1, 2, 3}, torch::kInt64)},
                       {"half", torch::randn({4}).to(torch::kFloat16)},
                       {"strided", torch::randn({3, 4}).t()}};
  write_safetensors(path, tensors, {{"note", "hello"}});
  const SafetensorsFile file = read_safetensors(path);
  ASSERT_EQ(file.tensors.size(), 4u);
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(file.tensors[i].first, tensors[i].first);  // written order, not alphabetical
    EXPECT_TRUE(testing::tensors_equal(file.tensors[i].second, tensors[i].second));
  }
  EXPECT_EQ(file.metadata.at("note"), "hello");
  // Data starts 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), 8);
  EXPECT_EQ(header_size % 8, 0u);
  fs::remove(path);
}

TEST(SafetensorsTest, MalformedHeadersNameFileAndField) {
  const std::string path = temp_file("mechlens_st_bad.safetensors");
  write_raw(path, "{not json", "");
  EXPECT_TRUE(
      testing::throws_with<CheckpointError>([&] { read_safetensors(path); }, "safetensors header: not valid JSON"));
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", std::string(16, '\0'));
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { read_safetensors(path); },
                                                    "tensor 'w' data_offsets [0, 12] span 12 bytes, expected 16"));
  write_raw(path, R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}})", "x");
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { read_safetensors(path); }, "tensor 'w' has dtype 'Q4'"));
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [1]}})", "");
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { read_safetensors(path); },
                                                    "tensor 'w' must have dtype, shape and data_offsets"));
  {
    std::ofstream out(path, std::ios::binary);
    const uint64_t huge = 1ull << 40;
    out.write(reinterpret_cast<const char*>(&huge), 8);
  }
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { read_safetensors(path); }, "header length 1099511627776"));
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { read_safetensors(temp_file("mechlens_none.safetensors")); },
                                                    "no such file"));
  EXPECT_TRUE(testing::throws_with<CheckpointError>([&] { read_safetensors(fs::temp_directory_path().string()); },
                                                    "is a directory, expected a safetensors file"));
  fs::remove(path);
}

TEST(SafetensorsTest, CraftedLayoutsAreRefused) {
  const std::string path = temp_file("mechlens_st_crafted.safetensors");
  auto refused = [&](const std::string& header, const std::string& data, const std::string& message) {
    write_raw(path, header, data);
    return testing::throws_with<CheckpointError>([&] { read_safetensors(path); }, message);
  };
  const std::string two_floats(8, '\0');
  EXPECT_TRUE(refused(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                         "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                      two_floats, "starts at byte 0 of the data section, expected 4 (overlapping"));
  EXPECT_TRUE(refused(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", two_floats,
                      "tensor 'a' starts at byte 4 of the data section, expected 0 (leaving a gap"));
  EXPECT_TRUE(refused(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", two_floats,
                      "the tensors end at byte 4 of the data section, which has 8 bytes"));
  EXPECT_TRUE(refused(R"({"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", two_floats,
                      "tensor 'a' shape [2.5] holds 2.5, expected integers"));
  EXPECT_TRUE(refused(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                         "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                      two_floats, "key 'a' is given twice"));
  EXPECT_TRUE(refused(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})",
                      two_floats, "holds more elements than the file has bytes"));
  EXPECT_TRUE(refused(R"({"a": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}})", two_floats,
                      "tensor 'a' dtype is 3, expected a string"));
  EXPECT_TRUE(refused(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 4]}})", two_floats,
                      "data_offsets is [-4,4], expected [begin, end] of non-negative integers"));
  fs::remove(path);
}

}  // namespace
}  // namespace mechlens
