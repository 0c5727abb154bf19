#include "util/sha256.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "util/error.h"

namespace mechlens {
namespace {

// One OpenSSL SHA-256 digest in progress.
class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    MECHLENS_CHECK(Error, context_ && EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) == 1,
                   "OpenSSL: cannot start a SHA-256 digest");
  }
  void update(const void* data, size_t size) {
    MECHLENS_CHECK(Error, EVP_DigestUpdate(context_.get(), data, size) == 1, "OpenSSL: SHA-256 update failed");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    MECHLENS_CHECK(Error, EVP_DigestFinal_ex(context_.get(), digest, &length) == 1, "OpenSSL: SHA-256 final failed");
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
      out += kDigits[digest[i] >> 4];
      out += kDigits[digest[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context_;
};

}  // namespace

std::string sha256_hex(const std::string& bytes) {
  Sha256 hash;
  hash.update(bytes.data(), bytes.size());
  return hash.hex();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MECHLENS_CHECK(InputError, in.good(), "{}: cannot open for hashing", path);
  Sha256 hash;
  std::vector<char> block(1 << 20);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    hash.update(block.data(), static_cast<size_t>(in.gcount()));
  }
  MECHLENS_CHECK(InputError, in.eof(), "{}: read error while hashing", path);
  return hash.hex();
}

}  // namespace mechlens
