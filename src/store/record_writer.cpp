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

// A file left by a killed SWMR writer opens only for SWMR reading; one from an older mechlens (not
// in the SWMR format) only without it.
std::unique_ptr<H5::H5File> open_interrupted(const std::string& path) {
  try {
    return std::make_unique<H5::H5File>(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ);
  } catch (const H5::Exception&) {
  }
  try {
    return std::make_unique<H5::H5File>(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, path, "cannot reopen partial record (damaged? delete it and record again)");
  }
}

const H5::DataType& file_type(bool floating, c10::ScalarType dtype) {
  if (!floating) return H5::PredType::STD_I32LE;
  return dtype == c10::kHalf ? static_cast<const H5::DataType&>(h5::half_type()) : H5::PredType::IEEE_F32LE;
}

const H5::DataType& memory_type(bool floating, c10::ScalarType dtype) {
  if (!floating) return H5::PredType::NATIVE_INT32;
  return dtype == c10::kHalf ? static_cast<const H5::DataType&>(h5::half_type()) : H5::PredType::NATIVE_FLOAT;
}

// Rows per chunk: at most `limit`, preferably a divisor of the batch size, so that a batch ends on a
// chunk boundary. A chunk a batch leaves half full is written again by the next one, and under SWMR
// the space of a compressed chunk written twice is not reused (files grew 11% on the bench).
hsize_t chunk_rows(hsize_t limit, int64_t batch_size) {
  const hsize_t batch = hsize_t(std::max<int64_t>(1, batch_size));
  limit = std::clamp<hsize_t>(limit, 1, batch);
  for (hsize_t rows = limit; rows * 2 > limit; --rows) {
    if (batch % rows == 0) return rows;
  }
  return limit;
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

RecordWriter::RecordWriter(const std::string& final_path, const RecordSettings& settings,
                           const std::map<std::string, std::vector<std::string>>& dims,
                           const std::map<std::string, std::vector<std::string>>& annotation_dims)
    : final_path_(final_path),
      partial_path_(final_path + kPartialSuffix),
      settings_(settings),
      dims_(dims),
      annotation_dims_(annotation_dims),
      lock_(std::make_unique<OutputLock>(final_path)) {}  // before any file is touched

// The header goes to FINAL.partial.new; an earlier FINAL.partial stays until the first batch replaces it.
void RecordWriter::start_file(const RecordProvenance& provenance, int64_t n_planned) {
  open_path_ = partial_path_ + ".new";
  try {
    file_ = std::make_unique<H5::H5File>(open_path_, H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT,
                                         h5::latest_format_access());
    H5::H5File& file = *file_;
    h5::write_attr(file, "format", std::string(kRecordFormat));
    h5::write_attr(file, "format_version", kRecordFormatVersion);
    write_provenance(file, provenance);
    h5::write_attr(file, "dtype", dtype_name(settings_.dtype));
    h5::write_attr(file, "compression",
                   settings_.gzip_level > 0 ? fmt::format("gzip:{}", settings_.gzip_level) : "none");
    h5::write_attr(file, "positions", settings_.positions);
    h5::write_attr(file, "heads", settings_.heads);
    h5::write_attr(file, "n_planned", n_planned);
    h5::write_attr(file, "n_complete", int64_t{0});
    h5::write_attr(file, "complete", int64_t{0});
    h5::write_attr(file, "resume_key", resume_key(settings_, provenance, n_planned));
    file.createGroup("acts");
    file.createGroup("annotations");
  } catch (const H5::Exception& e) {
    h5::rethrow(e, open_path_, "cannot create record file");
  }
}

RecordWriter RecordWriter::create(const std::string& final_path, const RecordSettings& settings,
                                  const RecordProvenance& provenance,
                                  const std::map<std::string, std::vector<std::string>>& dims,
                                  const std::map<std::string, std::vector<std::string>>& annotation_dims,
                                  int64_t n_planned) {
  h5::silence_errors();
  RecordWriter writer(final_path, settings, dims, annotation_dims);
  writer.start_file(provenance, n_planned);
  return writer;
}

RecordWriter RecordWriter::resume(const std::string& final_path, const RecordSettings& settings,
                                  const RecordProvenance& provenance,
                                  const std::map<std::string, std::vector<std::string>>& dims,
                                  const std::map<std::string, std::vector<std::string>>& annotation_dims,
                                  int64_t n_planned) {
  h5::silence_errors();
  // The lock first: a live run is a lock conflict, not damage.
  RecordWriter writer(final_path, settings, dims, annotation_dims);
  MECHLENS_CHECK(StoreError, std::filesystem::exists(writer.partial_path_),
                 "--resume: {} does not exist (nothing to resume{})", writer.partial_path_,
                 std::filesystem::exists(final_path) ? "; the final file is already complete" : "");
  // The interrupted file is only read: its complete rows are copied into a fresh partial file
  // (store/record_rewrite.h), which replaces it before writing continues.
  const std::string resuming = writer.partial_path_ + ".resuming";
  try {
    {
      std::unique_ptr<H5::H5File> interrupted = open_interrupted(writer.partial_path_);
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
      if (writer.n_written_ == 0) {  // nothing to keep: a fresh start, which replaces the file at its first batch
        interrupted->close();
        writer.start_file(provenance, n_planned);
        return writer;
      }
      writer.open_path_ = resuming;
      writer.file_ = std::make_unique<H5::H5File>(resuming, H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT,
                                                  h5::latest_format_access());
      copy_record_prefix(*interrupted, *writer.file_, writer.n_written_, "--resume: " + writer.partial_path_);
      interrupted->close();
    }
    writer.start_swmr();  // the copy replaces FINAL.partial only once it is crash-safe
  } catch (const H5::Exception& e) {
    h5::rethrow(e, writer.partial_path_, "cannot resume partial record");
  }
  return writer;  // on an error its destructor removes the unfinished copy
}

// From here on only rows and counts change, and HDF5 orders its writes so that the file on disk is
// valid at every moment; only now does the file take the name FINAL.partial.
void RecordWriter::start_swmr() {
  file_->flush(H5F_SCOPE_GLOBAL);
  MECHLENS_CHECK(StoreError, H5Fstart_swmr_write(file_->getId()) >= 0, "{}: cannot start crash-safe (SWMR) writing",
                 open_path_);
  sync_file(open_path_);
  std::filesystem::rename(open_path_, partial_path_);  // replaces the partial file of an earlier run
  open_path_ = partial_path_;
  appending_ = true;
}

RecordWriter::RecordWriter(RecordWriter&&) noexcept = default;
RecordWriter& RecordWriter::operator=(RecordWriter&&) noexcept = default;

RecordWriter::~RecordWriter() {
  if (file_ == nullptr) return;  // finished, or moved from
  // Left unfinished: the data stays in FINAL.partial for --resume, never at the final path. A file
  // that never took a batch holds nothing to resume.
  h5::close_or_abandon(file_);
  if (!appending_) {
    std::error_code ignored;
    std::filesystem::remove(open_path_, ignored);
  }
}

std::vector<RecordWriter::Rows> RecordWriter::rows_of(const RecordBatch& batch) const {
  std::vector<Rows> all{{"/", "tokens", batch.tokens, {"batch", "pos"}}, {"/", "lengths", batch.lengths, {"batch"}}};
  if (batch.positions.defined()) all.push_back({"/", "positions", batch.positions, {"batch", "pos_selected"}});
  for (const auto& [name, tensor] : batch.acts) all.push_back({"/acts", name, tensor, dims_for(dims_, name, tensor)});
  for (const auto& [name, tensor] : batch.annotations)
    all.push_back({"/annotations", name, tensor, dims_for(annotation_dims_, name, tensor)});
  return all;
}

void RecordWriter::create_dataset(const Rows& rows) {
  const bool floating = at::isFloatingType(rows.rows.scalar_type());
  const int rank = static_cast<int>(rows.rows.dim());
  MECHLENS_CHECK(StoreError, static_cast<int>(rows.dims.size()) == rank,
                 "{}: dataset '{}' has {} dimensions but {} dimension names [{}]", partial_path_, rows.name, rank,
                 rows.dims.size(), fmt::join(rows.dims, ","));
  std::vector<hsize_t> initial(rows.rows.sizes().begin(), rows.rows.sizes().end());
  std::vector<hsize_t> max_shape = initial, chunk = initial;
  initial[0] = 0;
  max_shape[0] = H5S_UNLIMITED;
  const size_t element_bytes = floating ? c10::elementSize(settings_.dtype) : sizeof(int32_t);
  const size_t row_bytes =
      std::max<size_t>(1, rows.rows.numel() / std::max<int64_t>(1, rows.rows.size(0)) * element_bytes);
  chunk[0] = chunk_rows(kTargetChunkBytes / row_bytes, settings_.batch_size);
  H5::DSetCreatPropList properties;
  properties.setChunk(rank, chunk.data());
  if (settings_.gzip_level > 0 && floating) {
    properties.setShuffle();
    properties.setDeflate(settings_.gzip_level);
  }
  H5::Group group = file_->openGroup(rows.group);
  H5::DataSet dataset = group.createDataSet(rows.name, file_type(floating, settings_.dtype),
                                            H5::DataSpace(rank, initial.data(), max_shape.data()), properties);
  h5::write_attr(dataset, "dims", join_dims(rows.dims));
}

void RecordWriter::start_appending(const RecordBatch& batch) {
  for (const Rows& rows : rows_of(batch)) {
    if (!file_->openGroup(rows.group).nameExists(rows.name)) create_dataset(rows);
  }
  start_swmr();
}

void RecordWriter::write_rows(const Rows& rows) {
  const bool floating = at::isFloatingType(rows.rows.scalar_type());
  const torch::Tensor data =
      (floating ? rows.rows.to(settings_.dtype) : rows.rows.to(torch::kInt32)).contiguous().to(torch::kCPU);
  H5::Group group = file_->openGroup(rows.group);
  // SWMR writing cannot create objects: every dataset came with the first batch.
  MECHLENS_CHECK(StoreError, group.nameExists(rows.name), "{}: dataset '{}' was not in the record's first batch",
                 partial_path_, rows.name);
  H5::DataSet dataset = group.openDataSet(rows.name);
  const int rank = static_cast<int>(data.dim());
  std::vector<hsize_t> batch_shape(data.sizes().begin(), data.sizes().end());
  std::vector<hsize_t> shape(rank);
  dataset.getSpace().getSimpleExtentDims(shape.data());
  std::vector<hsize_t> start(rank, 0);
  start[0] = shape[0];
  shape[0] += batch_shape[0];
  dataset.extend(shape.data());
  H5::DataSpace file_space = dataset.getSpace();
  file_space.selectHyperslab(H5S_SELECT_SET, batch_shape.data(), start.data());
  dataset.write(data.data_ptr(), memory_type(floating, settings_.dtype), H5::DataSpace(rank, batch_shape.data()),
                file_space);
  // Write the chunk cache now, where a failure (disk full while compressing) is an error: left to the
  // dataset's destructor, it would only be printed, and the rows would read back as zeros.
  if (H5Dflush(dataset.getId()) < 0) {
    try {
      dataset.close();
    } catch (const H5::Exception&) {
    }
    MECHLENS_FAIL(StoreError, "{}: cannot write dataset '{}' (disk full?)", partial_path_, rows.name);
  }
}

void RecordWriter::append(const RecordBatch& batch) {
  MECHLENS_CHECK(StoreError, file_ != nullptr, "{}: record already finished", final_path_);
  try {
    if (!appending_) start_appending(batch);
    for (const Rows& rows : rows_of(batch)) write_rows(rows);
    n_written_ += batch.tokens.size(0);
    // The count is written last, after every row is on disk: a resumed run trusts only this many rows.
    h5::overwrite_attr(*file_, "n_complete", n_written_);
    file_->flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    h5::rethrow(e, open_path_, "writing a batch failed (disk full?)");
  }
}

void RecordWriter::finish() {
  MECHLENS_CHECK(StoreError, file_ != nullptr, "{}: record already finished", final_path_);
  try {
    h5::overwrite_attr(*file_, "complete", int64_t{1});
    file_->flush(H5F_SCOPE_GLOBAL);
  } catch (const H5::Exception& e) {
    h5::close_or_abandon(file_);
    h5::rethrow(e, open_path_, "cannot finish record (disk full?)");
  }
  MECHLENS_CHECK(StoreError, h5::close_or_abandon(file_), "{}: cannot finish record (disk full?)", open_path_);
  sync_file(open_path_);  // on disk before it is renamed to look complete
  std::error_code error;
  std::filesystem::rename(open_path_, final_path_, error);
  MECHLENS_CHECK(StoreError, !error, "{}: cannot move finished record into place: {}", final_path_, error.message());
  if (open_path_ != partial_path_) std::filesystem::remove(partial_path_, error);  // an earlier run's, never resumed
  lock_.reset();
}

}  // namespace mechlens
