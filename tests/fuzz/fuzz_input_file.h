// The fuzz targets hand each input to mechlens's loaders as a file, the way users do: written to
// a private temporary path that is removed afterwards.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace mechlens::fuzz {

class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size, const std::string& extension)
      : path_((std::filesystem::temp_directory_path() / ("mechlens_fuzz_" + std::to_string(::getpid()) + extension))
                  .string()) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  ~InputFile() { std::remove(path_.c_str()); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace mechlens::fuzz
