// Thin helpers over HDF5's C++ API: silenced error stacks rethrown as StoreError with the path,
// string/integer attributes that h5py reads as str/int, and the IEEE half type h5py maps to float16.
#pragma once

#include <H5Cpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mechlens::h5 {

/// Turns off HDF5's automatic error-stack printing (once per process); errors become exceptions.
void silence_errors();

/// Closes `file` (flushing it); returns false when that fails. HDF5 1.10 leaves a file whose close
/// failed (disk full) in a state where a second close crashes, so a failed file is abandoned
/// (released unclosed; the process ends soon after with the error) instead of closed again by its
/// destructor.
bool close_or_abandon(std::unique_ptr<H5::H5File>& file);

/// Rethrows an HDF5 exception as StoreError: "<path>: <what> (<HDF5 detail>)".
[[noreturn]] void rethrow(const H5::Exception& error, const std::string& path, const std::string& what);

void write_attr(const H5::H5Object& object, const std::string& name, const std::string& value);
void write_attr(const H5::H5Object& object, const std::string& name, int64_t value);
void write_attr(const H5::H5Object& object, const std::string& name, const std::vector<int64_t>& values);
void write_attr(const H5::H5Object& object, const std::string& name, double value);
/// Writes `value` into the existing integer attribute `name` in place. Deleting and re-creating an
/// attribute restructures its object header, which a file in SWMR-write mode must not do.
void overwrite_attr(const H5::H5Object& object, const std::string& name, int64_t value);
/// File access with the newest object formats (HDF5 >= 1.10), which SWMR writing requires.
H5::FileAccPropList latest_format_access();
/// A 1-D dataset of variable-length UTF-8 strings (h5py: .asstr()[:]).
void write_strings(const H5::Group& group, const std::string& name, const std::vector<std::string>& values);
double read_double_attr(const H5::H5Object& object, const std::string& name);
bool has_attr(const H5::H5Object& object, const std::string& name);
std::string read_string_attr(const H5::H5Object& object, const std::string& name);
int64_t read_int_attr(const H5::H5Object& object, const std::string& name);
std::vector<int64_t> read_int_vector_attr(const H5::H5Object& object, const std::string& name);

/// The "dims" attribute of a dataset ("batch,head,dest,src") as a list of names.
std::vector<std::string> read_dims_attr(const H5::H5Object& object);

/// IEEE 754 binary16, little-endian.
const H5::FloatType& half_type();

}  // namespace mechlens::h5
