// Fuzz target: any bytes as an HDF5 file given to mechlens. The record reader and the generic
// result reader either read it whole or throw mechlens::Error; everything they list is read.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input_file.h"
#include "store/record_reader.h"
#include "store/result_reader.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const mechlens::fuzz::InputFile file(data, size, ".h5");
  try {
    const mechlens::RecordReader record(file.path());
    (void)record.read_tokens();
    (void)record.read_lengths();
    for (const std::string& hook : record.hooks()) (void)record.read_hook(hook);
  } catch (const mechlens::Error&) {
  }
  try {
    const mechlens::ResultReader reader(file.path());
    (void)reader.vocab();
    for (const std::string& path : reader.all_datasets()) {
      try {
        (void)reader.read(path);
      } catch (const mechlens::StoreError&) {
        (void)reader.strings(path);  // a string dataset, or a second clear error
      }
    }
  } catch (const mechlens::Error&) {
  }
  return 0;
}
