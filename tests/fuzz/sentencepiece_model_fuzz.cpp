// Fuzz target: any bytes as SentencePiece's tokenizer.model. The ModelProto reader and the BPE built
// from it either tokenize a text or throw mechlens::Error; a crash, a sanitizer report, another
// exception type or a hang is a finding.
#include <cstddef>
#include <cstdint>

#include "fuzz_input_file.h"
#include "io/sentencepiece_bpe.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const mechlens::fuzz::InputFile file(data, size, ".model");
  try {
    const auto tokenizer = mechlens::SentencePieceBpe::from_model_file(file.path());
    const std::vector<int64_t> ids = tokenizer->encode("  Hello wörld 123\n東京 🤗");
    (void)tokenizer->decode(ids);
  } catch (const mechlens::Error&) {
  }
  return 0;
}
