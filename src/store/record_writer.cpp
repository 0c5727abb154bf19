#include "store/record_writer.h"

#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "store/h5_util.h"
#include "store/record_rewrite.h"
#include "util/error.h"
#include "util/json_text.h"
#include "util/output_file.h"

#ifndef MECHLENS_VERSION
#define MECHLENS_VERSION "unknown"
#endif

namespace mechlens {
namespace {

constexpr size_t kTargetChunkBytes = 1 << 20;  // ~1 MiB chunks: large enough to stream, small to slice

std::string join_dims(const std::vector<std::string>& dims) { return fmt::format("{}", fmt::join(dims, ",")); }

// Declared names, or "batch, dim1, dim2, ..." for a dataset nobody named.
std::vector<std::string> dims_for(const std::map<std::string, std::vector<std::string>>& declared,
                                  const std::string& name, const torch::Tensor& rows) {
  const auto it = declared.find(name);
  if (it != declared.end()) return it->second;
  std::vector<std::string> dims{"batch"};
  for (int64_t i = 1; i < rows.dim(); ++i) dims.push_back(fmt::format("dim{}", i));
  return dims;
}

}  // namespace

std::string dtype_name(c10::ScalarType dtype) { return dtype == c10::kHalf ? "float16" : "float32"; }

std::string resume_key(const RecordSettings& settings, const RecordProvenance& provenance, int64_t n_planned) {
  nlohmann::ordered_json key;
  key["hooks"] = settings.hooks;
  key["positions"] = settings.positions;
  key["heads"] = settings.heads;
  key["dtype"] = dtype_name(settings.dtype);
  key["gzip_level"] = settings.gzip_level;
  key["batch_size"] = settings.batch_size;
  key["checkpoint_sha256"] = provenance.checkpoint_sha256;
  key["input_sha256"] = provenance.input_sha256;
  key["n_planned"] = n_planned;
  return key.dump();
}

RecordWriter RecordWriter::create(const std::string& final_path, const RecordSettings& settings,
                                  const RecordProvenance& provenance,
                                  const std::map<std::string, std::vector<std::string>>& dims,
                                  const std::map<std::string, std::vector<std::string>>& annotation_dims,
                                  int64_t n_planned) {
  h5::silence_errors();
  RecordWriter writer;
  writer.final_path_ = final_path;
  writer.partial_path_ = final_path + kPartialSuffix;
  writer.settings_ = settings;
  writer.dims_ = dims;
  writer.annotation_dims_ = annotation_dims;
  writer.lock_ = std::make_unique<OutputLock>(final_path);  // before the partial file is touched
  try {
    writer.file_ = std::make_unique<H5::H5File>(writer.partial_path_, H5F_ACC_TRUNC);
    H5::H5File& file = *writer.file_;
    h5::write_attr(file, "format", std::string(kRecordFormat));
    h5::write_attr(file, "format_version", kRecordFormatVersion);
    write_provenance(file, provenance);
    h5::write_attr(file, "dtype", dtype_name(settings.dtype));
    h5::write_attr(file, "compression", settings.gzip_level > 0 ? fmt::format("gzip:{}", settings.gzip_level) : "none");
    h5::write_attr(file, "positions", settings.positions);
    h5::write_attr(file, "heads", settings.heads);
    h5::write_attr(file, "n_planned", n_planned);
    h5::write_attr(file, "n_complete", int64_t{0});
    h5::write_attr(file, "complete", int64_t{0});
    h5::write_attr(file, "resume_key", resume_key(settings, provenance, n_planned));
    file.createGroup("acts");
    file.createGroup("annotations");
    file.flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, writer.partial_path_, "cannot create record file");
  }
  return writer;
}

RecordWriter RecordWriter::resume(const std::string& final_path, const RecordSettings& settings,
                                  const RecordProvenance& provenance, int64_t n_planned) {
  h5::silence_errors();
  RecordWriter writer;
  writer.final_path_ = final_path;
  writer.partial_path_ = final_path + kPartialSuffix;
  writer.settings_ = settings;
  writer.lock_ = std::make_unique<OutputLock>(final_path);  // a live run is a lock conflict, not damage
  MECHLENS_CHECK(StoreError, std::filesystem::exists(writer.partial_path_),
                 "--resume: {} does not exist (nothing to resume{})", writer.partial_path_,
                 std::filesystem::exists(final_path) ? "; the final file is already complete" : "");
  // The interrupted file is only read: its complete rows are copied into a fresh partial file
  // (store/record_rewrite.h), which replaces it before writing continues.
  const std::string resuming = writer.partial_path_ + ".resuming";
  try {
    {
      std::unique_ptr<H5::H5File> interrupted;
      try {
        interrupted = std::make_unique<H5::H5File>(writer.partial_path_, H5F_ACC_RDONLY);
      } catch (const H5::Exception& e) {
        h5::rethrow(e, writer.partial_path_,
                    "cannot reopen partial record (damaged by the interruption? delete it and record again)");
      }
      const std::string stored = h5::read_string_attr(*interrupted, "resume_key");
      const std::string wanted = resume_key(settings, provenance, n_planned);
      if (stored != wanted) {
        const std::vector<std::string> differences =
            json_differences(parse_json_text<StoreError>(stored, writer.partial_path_ + ": resume_key"),
                             nlohmann::json::parse(wanted), "file has", "this run");
        MECHLENS_FAIL(StoreError, "--resume: {} was started with other settings or inputs: {}", writer.partial_path_,
                      fmt::join(differences, "; "));
      }
      writer.n_written_ = h5::read_int_attr(*interrupted, "n_complete");
      auto fresh = std::make_unique<H5::H5File>(resuming, H5F_ACC_TRUNC);
      try {
        copy_record_prefix(*interrupted, *fresh, writer.n_written_, "--resume: " + writer.partial_path_);
        fresh->flush(H5F_SCOPE_GLOBAL);
      } catch (...) {
        h5::close_or_abandon(fresh);
        throw;
      }
      MECHLENS_CHECK(StoreError, h5::close_or_abandon(fresh), "{}: cannot write the resumed copy (disk full?)",
                     resuming);
      interrupted->close();
    }
    sync_file(resuming);
    std::filesystem::rename(resuming, writer.partial_path_);
    writer.file_ = std::make_unique<H5::H5File>(writer.partial_path_, H5F_ACC_RDWR);
    for (const char* group_name : {"/acts", "/annotations"}) {
      H5::Group group = writer.file_->openGroup(group_name);
      for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
        if (group.getObjTypeByIdx(i) != H5G_DATASET) continue;
        const std::string name = group.getObjnameByIdx(i);
        const std::vector<std::string> words = h5::read_dims_attr(group.openDataSet(name));
        (std::string(group_name) == "/acts" ? writer.dims_ : writer.annotation_dims_)[name] = words;
      }
    }
  } catch (const H5::Exception& e) {
    std::filesystem::remove(resuming);
    h5::rethrow(e, writer.partial_path_, "cannot resume partial record");
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(resuming, ignored);
    throw;
  }
  return writer;
}

RecordWriter::RecordWriter(RecordWriter&&) noexcept = default;
RecordWriter& RecordWriter::operator=(RecordWriter&&) noexcept = default;

RecordWriter::~RecordWriter() {
  // Left unfinished: the data stays in FINAL.partial for --resume, never at the final path.
  h5::close_or_abandon(file_);
}

void RecordWriter::write_rows(H5::Group& group, const std::string& name, const torch::Tensor& rows,
                              const std::vector<std::string>& dims) {
  const bool floating = at::isFloatingType(rows.scalar_type());
  const torch::Tensor data =
      (floating ? rows.to(settings_.dtype) : rows.to(torch::kInt32)).contiguous().to(torch::kCPU);
  const H5::DataType& file_type = !floating                       ? H5::PredType::STD_I32LE
                                  : settings_.dtype == c10::kHalf ? static_cast<const H5::DataType&>(h5::half_type())
                                                                  : H5::PredType::IEEE_F32LE;
  const H5::DataType& memory_type = !floating                       ? H5::PredType::NATIVE_INT32
                                    : settings_.dtype == c10::kHalf ? static_cast<const H5::DataType&>(h5::half_type())
                                                                    : H5::PredType::NATIVE_FLOAT;
  const int rank = static_cast<int>(data.dim());
  std::vector<hsize_t> batch_shape(data.sizes().begin(), data.sizes().end());
  H5::DataSet dataset;
  if (!group.nameExists(name)) {
    std::vector<hsize_t> initial = batch_shape, max_shape = batch_shape, chunk = batch_shape;
    initial[0] = 0;
    max_shape[0] = H5S_UNLIMITED;
    const size_t row_bytes =
        std::max<size_t>(1, data.numel() / std::max<int64_t>(1, data.size(0)) * data.element_size());
    chunk[0] = std::clamp<hsize_t>(kTargetChunkBytes / row_bytes, 1, std::max<hsize_t>(1, settings_.batch_size));
    H5::DSetCreatPropList properties;
    properties.setChunk(rank, chunk.data());
    if (settings_.gzip_level > 0 && floating) {
      properties.setShuffle();
      properties.setDeflate(settings_.gzip_level);
    }
    dataset = group.createDataSet(name, file_type, H5::DataSpace(rank, initial.data(), max_shape.data()), properties);
    MECHLENS_CHECK(StoreError, static_cast<int>(dims.size()) == rank,
                   "{}: dataset '{}' has {} dimensions but {} dimension names [{}]", partial_path_, name, rank,
                   dims.size(), fmt::join(dims, ","));
    h5::write_attr(dataset, "dims", join_dims(dims));
  } else {
    dataset = group.openDataSet(name);
  }
  std::vector<hsize_t> shape(rank);
  dataset.getSpace().getSimpleExtentDims(shape.data());
  std::vector<hsize_t> start(rank, 0);
  start[0] = shape[0];
  shape[0] += batch_shape[0];
  dataset.extend(shape.data());
  H5::DataSpace file_space = dataset.getSpace();
  file_space.selectHyperslab(H5S_SELECT_SET, batch_shape.data(), start.data());
  dataset.write(data.data_ptr(), memory_type, H5::DataSpace(rank, batch_shape.data()), file_space);
  // Write the chunk cache now, where a failure (disk full while compressing) is an error: left to the
  // dataset's destructor, it would only be printed, and the rows would read back as zeros.
  if (H5Dflush(dataset.getId()) < 0) {
    try {
      dataset.close();
    } catch (const H5::Exception&) {
    }
    MECHLENS_FAIL(StoreError, "{}: cannot write dataset '{}' (disk full?)", partial_path_, name);
  }
  dataset.close();
}

void RecordWriter::append(const RecordBatch& batch) {
  MECHLENS_CHECK(StoreError, file_ != nullptr, "{}: record already finished", final_path_);
  try {
    H5::Group root = file_->openGroup("/");
    write_rows(root, "tokens", batch.tokens, {"batch", "pos"});
    write_rows(root, "lengths", batch.lengths, {"batch"});
    if (batch.positions.defined()) write_rows(root, "positions", batch.positions, {"batch", "pos_selected"});
    H5::Group acts = file_->openGroup("acts");
    for (const auto& [name, tensor] : batch.acts) write_rows(acts, name, tensor, dims_for(dims_, name, tensor));
    H5::Group annotations = file_->openGroup("annotations");
    for (const auto& [name, tensor] : batch.annotations) {
      write_rows(annotations, name, tensor, dims_for(annotation_dims_, name, tensor));
    }
    n_written_ += batch.tokens.size(0);
    // The count is written last and flushed with the data: a resumed run trusts only this many rows.
    h5::write_attr(*file_, "n_complete", n_written_);
    file_->flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, partial_path_, "writing a batch failed (disk full?)");
  }
}

void RecordWriter::finish() {
  MECHLENS_CHECK(StoreError, file_ != nullptr, "{}: record already finished", final_path_);
  try {
    h5::write_attr(*file_, "complete", int64_t{1});
    file_->flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    h5::close_or_abandon(file_);
    h5::rethrow(e, partial_path_, "cannot finish record (disk full?)");
  }
  MECHLENS_CHECK(StoreError, h5::close_or_abandon(file_), "{}: cannot finish record (disk full?)", partial_path_);
  sync_file(partial_path_);  // on disk before it is renamed to look complete
  std::error_code error;
  std::filesystem::rename(partial_path_, final_path_, error);
  MECHLENS_CHECK(StoreError, !error, "{}: cannot move finished record into place: {}", final_path_, error.message());
  lock_.reset();
}

}  // namespace mechlens
