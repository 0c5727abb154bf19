// Fuzz target: any bytes as a checkpoint. The safetensors reader and the checkpoint's config
// (native or TransformerLens) either accept the file or throw mechlens::Error; a crash, a sanitizer
// report, another exception type or a hang is a finding.
#include <cstddef>
#include <cstdint>

#include "fuzz_input_file.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const mechlens::fuzz::InputFile file(data, size, ".safetensors");
  try {
    const mechlens::SafetensorsFile read = mechlens::read_safetensors(file.path());
    (void)read;
  } catch (const mechlens::Error&) {
  }
  try {
    const mechlens::ModelConfig config = mechlens::read_checkpoint_config(file.path());
    config.check_fits_in_memory();
  } catch (const mechlens::Error&) {
  }
  return 0;
}
