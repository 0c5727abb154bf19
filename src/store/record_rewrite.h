// Resuming a record safely. A record killed at an arbitrary moment (not only between batches) may
// have half-written HDF5 metadata past its last complete batch, and writing on into that file can
// fail or corrupt it. So a resumed record is not continued in place: its first n_complete rows
// (flushed before n_complete was written) are copied into a fresh file, with every root attribute,
// dataset type, chunking, filter and attribute, and writing continues there.
#pragma once

#include <H5Cpp.h>

#include <cstdint>
#include <string>

namespace mechlens {

/// Copies the root attributes of `source`, and the first `rows` rows of every dataset in /, /acts
/// and /annotations with their creation properties and attributes, into the empty file `target`.
/// Throws StoreError naming `source_path` and the dataset when a read or write fails.
void copy_record_prefix(const H5::H5File& source, const H5::H5File& target, int64_t rows,
                        const std::string& source_path);

}  // namespace mechlens
