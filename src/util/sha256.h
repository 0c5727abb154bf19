// SHA-256 (OpenSSL libcrypto) of a byte string or a file, as lowercase hex: records name the checkpoint
// they were made from by content, not only by path.
#pragma once

#include <string>

namespace mechlens {

std::string sha256_hex(const std::string& bytes);
/// Hashes the file in 1 MiB blocks; throws InputError naming the path when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace mechlens
