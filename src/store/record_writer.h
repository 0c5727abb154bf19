// Streaming HDF5 writer: batch after batch into chunked, extendible datasets, so memory is bounded by
// one batch. Writes to FINAL.partial and renames it to FINAL only in finish(): a killed run never
// leaves a file at the final path. A partial file can be resumed from its last complete batch.
//
// Crash safety: the header and the empty datasets are built in FINAL.partial.new; once they exist the
// file switches to SWMR writing (HDF5 then orders its metadata writes so that the file on disk is
// valid at every moment) and only then is renamed to FINAL.partial. Without SWMR a kill during a
// metadata flush can leave the earlier batches unreadable or silently wrong.
#pragma once

#include <H5Cpp.h>
#include <torch/types.h>  // torch::Tensor

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/record_schema.h"
#include "util/output_file.h"

namespace mechlens {

struct RecordBatch {
  torch::Tensor tokens;     // [batch, T] integer ids, right-padded with 0
  torch::Tensor lengths;    // [batch] tokens per prompt
  torch::Tensor positions;  // [batch, P] absolute positions kept; undefined when all are kept
  std::vector<std::pair<std::string, torch::Tensor>> acts;         // hook -> [batch, ...] selected
  std::vector<std::pair<std::string, torch::Tensor>> annotations;  // name -> [batch, ...] integers
};

class RecordWriter {
 public:
  /// Starts a new record (replacing any earlier FINAL.partial, unless another mechlens is writing it:
  /// then InputError). `dims` names each hook's dimensions
  /// after selection; `annotation_dims` each annotation's.
  static RecordWriter create(const std::string& final_path, const RecordSettings& settings,
                             const RecordProvenance& provenance,
                             const std::map<std::string, std::vector<std::string>>& dims,
                             const std::map<std::string, std::vector<std::string>>& annotation_dims, int64_t n_planned);
  /// Reopens FINAL.partial; its settings and inputs must equal these (else StoreError naming the
  /// difference). Data past the last complete batch is dropped; with no complete batch the record
  /// starts anew (`dims` and `annotation_dims` name its datasets as for create).
  static RecordWriter resume(const std::string& final_path, const RecordSettings& settings,
                             const RecordProvenance& provenance,
                             const std::map<std::string, std::vector<std::string>>& dims,
                             const std::map<std::string, std::vector<std::string>>& annotation_dims, int64_t n_planned);

  RecordWriter(RecordWriter&&) noexcept;
  RecordWriter& operator=(RecordWriter&&) noexcept;
  ~RecordWriter();

  /// Examples written and flushed so far.
  int64_t n_written() const { return n_written_; }
  void append(const RecordBatch& batch);
  /// Marks the record complete, closes it and renames FINAL.partial to FINAL.
  void finish();

 private:
  // Row-wise data of one batch, as (group, name, rows, dims).
  struct Rows {
    const char* group;
    std::string name;
    torch::Tensor rows;
    std::vector<std::string> dims;
  };
  RecordWriter(const std::string& final_path, const RecordSettings& settings,
               const std::map<std::string, std::vector<std::string>>& dims,
               const std::map<std::string, std::vector<std::string>>& annotation_dims);
  void start_file(const RecordProvenance& provenance, int64_t n_planned);
  std::vector<Rows> rows_of(const RecordBatch& batch) const;
  void create_dataset(const Rows& rows);
  void write_rows(const Rows& rows);
  // Creates the batch's datasets (empty), then start_swmr().
  void start_appending(const RecordBatch& batch);
  void start_swmr();

  std::string final_path_;
  std::string partial_path_;
  RecordSettings settings_;
  std::map<std::string, std::vector<std::string>> dims_;
  std::map<std::string, std::vector<std::string>> annotation_dims_;
  std::unique_ptr<OutputLock> lock_;  // held from create/resume until destruction: one writer per output
  std::unique_ptr<H5::H5File> file_;
  std::string open_path_;   // where file_ lies: FINAL.partial.new until appending starts, then FINAL.partial
  bool appending_ = false;  // in SWMR-write mode: datasets exist, only rows and counts change
  int64_t n_written_ = 0;
};

/// JSON of everything that must match for --resume (settings and provenance less the command line).
std::string resume_key(const RecordSettings& settings, const RecordProvenance& provenance, int64_t n_planned);

}  // namespace mechlens
