// Fuzz target: any bytes as a model config. Strict JSON parsing (depth bound, duplicate keys) and
// the config's validation either accept it or throw mechlens::Error, before anything is allocated.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/transformer_lens.h"
#include "runtime/config.h"
#include "util/error.h"
#include "util/json_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const nlohmann::json json = mechlens::parse_json_text<mechlens::ConfigError>(text, "fuzz.json");
    const mechlens::ModelConfig config = mechlens::is_transformer_lens_config(json)
                                             ? mechlens::config_from_transformer_lens(json)
                                             : mechlens::ModelConfig::from_json(json);
    config.check_fits_in_memory();
    (void)config.to_json().dump();
  } catch (const mechlens::Error&) {
  }
  return 0;
}
