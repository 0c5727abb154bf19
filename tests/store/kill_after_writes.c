// Test-only preload library (LD_PRELOAD): SIGKILLs the process just before its write number N (from
// 0) to any file whose path contains ".partial", N from MECHLENS_KILL_AFTER_WRITES. Run once per N,
// it puts a kill between every two writes a record makes. Unset, it prints how many writes a whole
// run made. The kernel keeps what was written before the kill, as after a real SIGKILL.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long kill_at = -2;  // -2: not read yet, -1: never
static long seen = 0;

static int counts(int fd) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return strstr(path, ".partial") != NULL;
}

static void maybe_die(int fd) {
  if (kill_at == -2) {
    const char* value = getenv("MECHLENS_KILL_AFTER_WRITES");
    kill_at = value ? atol(value) : -1;
  }
  if (!counts(fd)) return;
  if (seen == kill_at) kill(getpid(), SIGKILL);
  ++seen;
}

// With MECHLENS_KILL_AFTER_WRITES unset, reports how many writes a whole run makes.
__attribute__((destructor)) static void report(void) {
  if (kill_at < 0) fprintf(stderr, "partial-file writes: %ld\n", seen);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (!real) real = dlsym(RTLD_NEXT, "pwrite");
  maybe_die(fd);
  return real(fd, buf, n, offset);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
  maybe_die(fd);
  return real(fd, buf, n, offset);
}
ssize_t write(int fd, const void* buf, size_t n) {
  static ssize_t (*real)(int, const void*, size_t);
  if (!real) real = dlsym(RTLD_NEXT, "write");
  maybe_die(fd);
  return real(fd, buf, n);
}
