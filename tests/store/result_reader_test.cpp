// The generic reader of mechlens files: what write_result_file and write_tensor store reads back
// bit-identical with its dimension names, and every malformed file gets an error naming the file
// and the object.
#include "store/result_reader.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "store/h5_util.h"
#include "store/result_file.h"
#include "test_util.h"
#include "util/error.h"

namespace mechlens {
namespace {

class ResultReaderTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }

  testing::TestDir dir_;
};

TEST_F(ResultReaderTest, TensorsStringsAndAttributesReadBackAsWritten) {
  const torch::Tensor scores = torch::randn({3, 4, 2});
  const torch::Tensor ids = torch::arange(6, torch::kLong).view({2, 3});
  Provenance provenance;
  provenance.checkpoint = "model.safetensors";
  provenance.vocab = {"A", "B", "<eos>"};
  write_result_file(path("r.h5"), "mechlens-test", 3, [&](H5::H5File& file) {
    write_provenance(file, provenance);
    H5::Group results = file.createGroup("results");
    H5::Group sweep = results.createGroup("head_z");
    write_tensor(sweep, "normalised", scores, {"layer", "pos", "head"});
    write_tensor(sweep, "ids", ids);
    h5::write_strings(sweep, "label_span", {"query", "rule"});
    h5::write_attr(sweep, "metric_name", std::string("logit-diff"));
    h5::write_attr(sweep, "clean_metric", 2.5);
  });

  const ResultReader reader(path("r.h5"));
  EXPECT_EQ(reader.format(), "mechlens-test");
  EXPECT_EQ(reader.format_version(), 3);
  EXPECT_EQ(reader.attribute("checkpoint"), "model.safetensors");
  EXPECT_EQ(reader.vocab(), (std::vector<std::string>{"A", "B", "<eos>"}));
  EXPECT_EQ(reader.groups("/results"), (std::vector<std::string>{"head_z"}));
  EXPECT_EQ(reader.datasets("results/head_z"), (std::vector<std::string>{"ids", "label_span", "normalised"}));
  const LabelledTensor read = reader.read("/results/head_z/normalised");
  EXPECT_EQ(read.dims, (std::vector<std::string>{"layer", "pos", "head"}));
  EXPECT_TRUE(testing::tensors_equal(read.values, scores));
  EXPECT_TRUE(testing::tensors_equal(reader.read("/results/head_z/normalised", 1, 2).values, scores.narrow(0, 1, 2)));
  EXPECT_TRUE(torch::equal(reader.read("results/head_z/ids").values, ids));
  EXPECT_TRUE(reader.read("results/head_z/ids").dims.empty());
  EXPECT_EQ(reader.shape("results/head_z/normalised"), (std::vector<int64_t>{3, 4, 2}));
  EXPECT_EQ(reader.strings("results/head_z/label_span"), (std::vector<std::string>{"query", "rule"}));
  EXPECT_EQ(reader.attribute("metric_name", "results/head_z"), "logit-diff");
  EXPECT_DOUBLE_EQ(reader.number_attribute("clean_metric", "/results/head_z"), 2.5);
  EXPECT_FALSE(reader.exists("/results/nothing/here"));
  EXPECT_EQ(reader.all_datasets(),
            (std::vector<std::string>{"/vocab", "/results/head_z/ids", "/results/head_z/label_span",
                                      "/results/head_z/normalised"}));
}

TEST_F(ResultReaderTest, MissingObjectsAndWrongKindsNameTheFileAndObject) {
  write_result_file(path("r.h5"), "mechlens-test", 1, [&](H5::H5File& file) {
    h5::write_strings(file.openGroup("/"), "names", {"a"});
    write_tensor(file.openGroup("/"), "values", torch::zeros({2}));
  });
  const ResultReader reader(path("r.h5"));
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { reader.read("/results/x"); }, "r.h5: no dataset /results/x"));
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { reader.read("names"); },
                                               "r.h5: /names: holds string data, expected numbers"));
  EXPECT_TRUE(
      testing::throws_with<StoreError>([&] { reader.strings("values"); }, "/values: holds numbers, expected strings"));
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { reader.attribute("nope"); }, "r.h5: / has no attribute 'nope'"));
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { reader.read("values", 1, 5); },
                                               "rows [1, 6) requested, the dataset has 2"));
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { reader.groups("/values"); }, "/values is not a group"));
}

TEST_F(ResultReaderTest, FilesThatAreNotMechlensResultsAreRefusedByName) {
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { ResultReader reader(path("none.h5")); }, "none.h5: no such file"));
  std::ofstream(path("run.h5.partial")) << "x";
  EXPECT_TRUE(
      testing::throws_with<StoreError>([&] { ResultReader reader(path("run.h5")); }, "run.h5.partial is unfinished"));
  std::ofstream(path("text.h5")) << "not hdf5";
  EXPECT_TRUE(testing::throws_with<StoreError>([&] { ResultReader reader(path("text.h5")); }, "cannot open as HDF5"));
  { H5::H5File plain(path("plain.h5"), H5F_ACC_TRUNC); }
  EXPECT_TRUE(
      testing::throws_with<StoreError>([&] { ResultReader reader(path("plain.h5")); }, "no root attribute 'format'"));
  EXPECT_TRUE(
      testing::throws_with<StoreError>([&] { ResultReader reader(dir_.path().string()); }, "is not a regular file"));
}

}  // namespace
}  // namespace mechlens
