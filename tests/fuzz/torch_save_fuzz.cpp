// Fuzz target: any bytes as a torch.save state dict. The zip reader and the restricted unpickler
// either return tensors or throw mechlens::Error; a crash, a sanitizer report, another exception
// type or a hang is a finding.
#include <cstddef>
#include <cstdint>

#include "fuzz_input_file.h"
#include "io/torch_save.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const mechlens::fuzz::InputFile file(data, size, ".pt");
  try {
    const mechlens::NamedTensors tensors = mechlens::read_torch_state_dict(file.path());
    (void)tensors;
  } catch (const mechlens::Error&) {
  }
  return 0;
}
