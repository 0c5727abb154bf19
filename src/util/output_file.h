// Output files that can be trusted: one writer per output, data on disk before a file gets its
// final name, and nothing left looking complete after a failure.
//
// One writer per output file. Every command that writes FILE (through FILE.partial, renamed into
// place when complete) first takes an exclusive lock on FILE.lock, so that a second mechlens writing
// the same output gets a clear "another mechlens is writing FILE" error before it touches anything,
// instead of truncating the first one's partial file. The lock is an flock(2) lock: the kernel
// releases it when the process dies, so a killed run never leaves a stale lock behind (the empty
// lock file may remain; the next writer reuses it).
#pragma once

#include <string>

namespace mechlens {

class OutputLock {
 public:
  /// Locks `output` (for writing it or its partial file); throws InputError naming the file when
  /// another process holds the lock or the folder cannot hold a lock file.
  explicit OutputLock(const std::string& output);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&& other) noexcept;

  const std::string& lock_path() const { return lock_path_; }

 private:
  void release();
  std::string lock_path_;
  int fd_ = -1;
};

/// fsync(2)s the file at `path` (and nothing else); throws InputError naming it when the data cannot
/// be made durable (disk full, I/O error). Called before a partial file is renamed to its final name.
void sync_file(const std::string& path);

/// Writes `bytes` to `path` atomically (lock, PATH.partial, close, fsync, rename); throws InputError
/// naming the file, and removes the partial file, when any step fails (e.g. a full disk).
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace mechlens
