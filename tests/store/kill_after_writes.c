// Test-only preload library (LD_PRELOAD): SIGKILLs the process just before its file operation number
// N (from 0), counting writes to, and renames of, files whose path contains ".partial" (or the text
// in MECHLENS_KILL_PATHS); N from MECHLENS_KILL_AFTER_WRITES. Run once per N, it puts a kill between
// every two steps a writer takes. Unset, it prints how many such operations a whole run made. The
// kernel keeps what was written before the kill, as after a real SIGKILL.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long kill_at = -2;  // -2: not read yet, -1: never
static long seen = 0;

static int watched(const char* path) {
  const char* part = getenv("MECHLENS_KILL_PATHS");
  return path != NULL && strstr(path, part && *part ? part : ".partial") != NULL;
}

static int watched_fd(int fd) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return watched(path);
}

static void count(int is_watched) {
  if (kill_at == -2) {
    const char* value = getenv("MECHLENS_KILL_AFTER_WRITES");
    kill_at = value ? atol(value) : -1;
  }
  if (!is_watched) return;
  if (seen == kill_at) kill(getpid(), SIGKILL);
  ++seen;
}

// With MECHLENS_KILL_AFTER_WRITES unset, reports how many operations a whole run makes.
__attribute__((destructor)) static void report(void) {
  if (kill_at < 0) fprintf(stderr, "partial-file operations: %ld\n", seen);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (!real) real = dlsym(RTLD_NEXT, "pwrite");
  count(watched_fd(fd));
  return real(fd, buf, n, offset);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
  count(watched_fd(fd));
  return real(fd, buf, n, offset);
}
ssize_t write(int fd, const void* buf, size_t n) {
  static ssize_t (*real)(int, const void*, size_t);
  if (!real) real = dlsym(RTLD_NEXT, "write");
  count(watched_fd(fd));
  return real(fd, buf, n);
}
ssize_t writev(int fd, const struct iovec* iov, int count_of_iov) {
  static ssize_t (*real)(int, const struct iovec*, int);
  if (!real) real = dlsym(RTLD_NEXT, "writev");
  count(watched_fd(fd));
  return real(fd, iov, count_of_iov);
}
int rename(const char* from, const char* to) {
  static int (*real)(const char*, const char*);
  if (!real) real = dlsym(RTLD_NEXT, "rename");
  count(watched(from) || watched(to));
  return real(from, to);
}
