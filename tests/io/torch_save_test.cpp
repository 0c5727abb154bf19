// The torch.save reader on files written by PyTorch itself (tests/fuzz/corpus/torch_save, made by
// scripts/make_damaged_files.py with Debian's python3-torch) and on hand-made archives that lie.
#include "io/torch_save.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "util/error.h"

namespace mechlens {
namespace {

std::string corpus(const std::string& name) {
  return std::string(MECHLENS_SOURCE_DIR) + "/tests/fuzz/corpus/torch_save/" + name;
}

std::map<std::string, torch::Tensor> read_map(const std::string& name) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [key, tensor] : read_torch_state_dict(corpus(name))) tensors[key] = tensor;
  return tensors;
}

// The state dict the generator saved: views of one storage, four float dtypes, bool and int64.
void expect_saved_values(const std::map<std::string, torch::Tensor>& tensors) {
  const torch::Tensor base = torch::arange(12, torch::kFloat32);
  ASSERT_EQ(tensors.size(), 7u);
  EXPECT_TRUE(torch::equal(tensors.at("a"), base.slice(0, 0, 6).view({2, 3})));
  EXPECT_TRUE(torch::equal(tensors.at("t"), base.slice(0, 0, 6).view({2, 3}).t()));  // strides (1, 3)
  EXPECT_TRUE(torch::equal(tensors.at("tail"), base.slice(0, 8, 11)));               // storage offset 8
  EXPECT_EQ(tensors.at("b").scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(tensors.at("b").to(torch::kFloat32), base.slice(0, 0, 4) * 0.5));
  EXPECT_EQ(tensors.at("h").scalar_type(), torch::kFloat16);
  EXPECT_TRUE(torch::equal(tensors.at("h").to(torch::kFloat32), base.slice(0, 0, 4) * 0.25));
  EXPECT_TRUE(torch::equal(tensors.at("mask"), torch::ones({3, 3}, torch::kBool).tril()));
  EXPECT_TRUE(torch::equal(tensors.at("n"), torch::arange(3, torch::kInt64)));
  for (const auto& [name, tensor] : tensors) EXPECT_TRUE(tensor.is_contiguous()) << name;
}

TEST(TorchSave, ReadsWhatPyTorchWroteWithProtocols2And4) {
  expect_saved_values(read_map("valid_protocol2.pt"));
  expect_saved_values(read_map("valid_protocol4.pt"));
}

TEST(TorchSave, KeepsTheFilesKeyOrder) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : read_torch_state_dict(corpus("valid_protocol2.pt"))) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "t", "tail", "b", "h", "mask", "n"}));
}

// Each damaged or crafted file is refused with the file's name and the reason.
void expect_refused(const std::string& name, const std::string& reason) {
  try {
    read_torch_state_dict(corpus(name));
    ADD_FAILURE() << name << " was accepted";
  } catch (const CheckpointError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(name), std::string::npos) << message;
    EXPECT_NE(message.find(reason), std::string::npos) << name << ": " << message;
  }
}

TEST(TorchSave, NeverRunsAGlobalOutsideTheStateDictSubset) {
  expect_refused("crafted_global_system.pt", "posix.system, which is not part of a state dict");
}

TEST(TorchSave, RefusesStoragesAndViewsThatLie) {
  expect_refused("crafted_missing_storage.pt", "has no entry 'data/7'");
  expect_refused("crafted_storage_short.pt", "holds 32 bytes, expected 1000 elements");
  expect_refused("crafted_numel_huge.pt", "expected 4611686018427387904 elements");
  expect_refused("crafted_view_past_end.pt", "reaches element 14 of a 8-element storage");
  expect_refused("crafted_stride_overflow.pt", "extent overflows");
  expect_refused("crafted_storage_untyped.pt", "torch.UntypedStorage, which is not part of a state dict");
}

TEST(TorchSave, RefusesMalformedPicklesAndArchives) {
  expect_refused("crafted_memo_unset.pt", "memo entry 5 is read before it is written");
  expect_refused("crafted_stack_underflow.pt", "needs a MARK");
  expect_refused("crafted_no_stop.pt", "without its STOP");
  expect_refused("crafted_unknown_opcode.pt", "opcode 0xff");
  expect_refused("crafted_key_not_string.pt", "key is a int");
  expect_refused("crafted_list_not_dict.pt", "holds a list, expected a state dict");
  expect_refused("crafted_no_pickle.pt", "without data.pkl");
  expect_refused("crafted_big_endian.pt", "byteorder is 'big'");
  expect_refused("crafted_not_zip.pt", "not a readable torch.save archive");
  expect_refused("tiny_truncated_0.pt", "not a readable torch.save archive");
}

}  // namespace
}  // namespace mechlens
