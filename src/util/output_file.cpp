#include "util/output_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "util/error.h"

namespace mechlens {

OutputLock::OutputLock(const std::string& output) : lock_path_(output + ".lock") {
  // Retry when the lock file was removed between our open and our flock (another writer finished):
  // the lock must be held on the file that the path names now.
  for (int attempt = 0; attempt < 8; ++attempt) {
    fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    MECHLENS_CHECK(InputError, fd_ >= 0, "{}: cannot create the lock file for this output: {}", lock_path_,
                   std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd_);
      fd_ = -1;
      MECHLENS_CHECK(InputError, error != EWOULDBLOCK,
                     "{}: another mechlens is writing this output (it holds {}); wait for it to finish, or choose "
                     "another --out",
                     output, lock_path_);
      MECHLENS_FAIL(InputError, "{}: cannot lock {}: {}", output, lock_path_, std::strerror(error));
    }
    struct stat held {
    }, named{};
    if (::fstat(fd_, &held) == 0 && ::stat(lock_path_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev) {
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
  MECHLENS_FAIL(InputError, "{}: the lock file keeps changing; is another process removing it?", lock_path_);
}

void OutputLock::release() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // while still locked: a waiting writer then re-checks the path
  ::close(fd_);
  fd_ = -1;
}

OutputLock::~OutputLock() { release(); }

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MECHLENS_CHECK(InputError, fd >= 0, "{}: cannot open to sync: {}", path, std::strerror(errno));
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  MECHLENS_CHECK(InputError, result == 0, "{}: cannot write to disk: {}", path, std::strerror(error));
}

OutputLock::OutputLock(OutputLock&& other) noexcept
    : lock_path_(std::move(other.lock_path_)), fd_(std::exchange(other.fd_, -1)) {}

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    release();
    lock_path_ = std::move(other.lock_path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

}  // namespace mechlens

namespace mechlens {

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const OutputLock lock(path);
  const std::string partial = path + ".partial";
  auto fail = [&](const std::string& why) {
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    MECHLENS_FAIL(InputError, "{}: {}", path, why);
  };
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out.good()) fail("cannot open " + partial + " for writing");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();  // the last buffer is written here: checked after, not before
    if (out.fail()) fail("write failed (disk full?)");
  }
  try {
    sync_file(partial);
  } catch (const InputError& e) {
    fail(e.what());
  }
  std::error_code error;
  std::filesystem::rename(partial, path, error);
  if (error) fail("cannot move the finished file into place: " + error.message());
}

}  // namespace mechlens
