// io_faults: an LD_PRELOAD library that makes chosen file-system calls of a real process fail, the
// way a full or failing disk makes them fail, for the crash and fault tests. Test-only: it is
// built beside the tests and never linked into the server.
//
//   LD_PRELOAD=build/release/tests/faults/libio_faults.so IO_FAULTS_OPS=fdatasync
//   IO_FAULTS_PATH=/wal/ IO_FAULTS_ERRNO=EIO arbalest serve ...     (one command line)
//
// Environment (read once, at load):
//   IO_FAULTS_OPS          comma-separated call families to fail (required; nothing fails
//                          without it): open (open, open64, openat, openat64, creat, fopen,
//                          fopen64; "openat" is accepted as a synonym), write, writev, pwrite
//                          (pwrite, pwrite64, pwritev), fwrite, fsync, fdatasync, rename
//                          (rename, renameat, renameat2), or all.
//   IO_FAULTS_PATH         only calls on a path containing this substring (the path of an fd
//                          is read from /proc/self/fd; a rename matches on either name).
//   IO_FAULTS_ERRNO        EIO (default), ENOSPC, EDQUOT, EFBIG, EMFILE, ENFILE, EROFS, or a
//                          number.
//   IO_FAULTS_AFTER        let this many matching calls through first (default 0).
//   IO_FAULTS_PROBABILITY  fail each matching call after those with this probability (default
//                          1), drawn from IO_FAULTS_SEED (default 1) and the call's number, so a
//                          run with the same calls in the same order fails the same ones.
//   IO_FAULTS_COUNT        fail at most this many calls (default 0: no limit).
//   IO_FAULTS_SHORT        1: a write or writev chosen to fail first writes half of its bytes
//                          and returns that short count; the next write to that fd fails.
//   IO_FAULTS_ARM_FILE     fail only while this file exists (calls meanwhile are not counted),
//                          so that a test can let startup through and arm the faults later.
//                          AFTER and COUNT count from the file's creation (or latest touch).
//   IO_FAULTS_LOG          append one line per failed call to this file (default: stderr).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum Family {
  kOpen = 1 << 0,
  kWrite = 1 << 1,
  kWritev = 1 << 2,
  kPwrite = 1 << 3,
  kFwrite = 1 << 4,
  kFsync = 1 << 5,
  kFdatasync = 1 << 6,
  kRename = 1 << 7,
};

static struct {
  unsigned families;
  const char* path;
  int error;
  uint64_t after;
  double probability;
  uint64_t seed;
  uint64_t count;
  int short_writes;
  const char* arm_file;
  int log_fd;
} config = {0, NULL, EIO, 0, 1.0, 1, 0, 0, NULL, 2};

static uint64_t matched;   // matching calls while armed (atomic)
static uint64_t injected;  // failures injected (atomic)
static uint64_t arming;    // the arm file's inode and mtime, hashed: which arming this is

// fds whose next write fails (after a short write); -1 = free slot.
#define kPendingSlots 64
static int pending_fds[kPendingSlots];

static const struct {
  const char* name;
  unsigned families;
} kFamilyNames[] = {
    {"open", kOpen},     {"openat", kOpen},   {"write", kWrite}, {"writev", kWritev},
    {"pwrite", kPwrite}, {"fwrite", kFwrite}, {"fsync", kFsync}, {"fdatasync", kFdatasync},
    {"rename", kRename}, {"all", ~0u},
};

static const struct {
  const char* name;
  int value;
} kErrnoNames[] = {{"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EFBIG", EFBIG},
                   {"EMFILE", EMFILE}, {"ENFILE", ENFILE}, {"EROFS", EROFS}};

static void Log(const char* text) {
  size_t length = strlen(text);
  // A raw system call: the intercepted write must not see the shim's own output.
  while (length > 0) {
    const long n = syscall(SYS_write, config.log_fd, text, length);
    if (n <= 0) return;
    text += n;
    length -= (size_t)n;
  }
}

static unsigned ParseFamilies(const char* list) {
  unsigned families = 0;
  char buffer[256];
  snprintf(buffer, sizeof(buffer), "%s", list);
  char* save = NULL;
  for (char* name = strtok_r(buffer, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
    unsigned found = 0;
    for (size_t i = 0; i < sizeof(kFamilyNames) / sizeof(kFamilyNames[0]); ++i) {
      if (strcmp(name, kFamilyNames[i].name) == 0) found = kFamilyNames[i].families;
    }
    if (!found) {
      char message[320];
      snprintf(message, sizeof(message), "io_faults: unknown call family '%s' in IO_FAULTS_OPS\n",
               name);
      Log(message);
      _exit(97);
    }
    families |= found;
  }
  return families;
}

static int ParseErrno(const char* text) {
  for (size_t i = 0; i < sizeof(kErrnoNames) / sizeof(kErrnoNames[0]); ++i) {
    if (strcmp(text, kErrnoNames[i].name) == 0) return kErrnoNames[i].value;
  }
  const int value = atoi(text);
  if (value <= 0) {
    Log("io_faults: IO_FAULTS_ERRNO must be a name such as ENOSPC or a positive number\n");
    _exit(97);
  }
  return value;
}

__attribute__((constructor)) static void Configure(void) {
  for (int i = 0; i < kPendingSlots; ++i) pending_fds[i] = -1;
  const char* ops = getenv("IO_FAULTS_OPS");
  if (!ops || !*ops) return;
  const char* value;
  if ((value = getenv("IO_FAULTS_LOG")) && *value) {
    const int fd =
        (int)syscall(SYS_openat, AT_FDCWD, value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) config.log_fd = fd;
  }
  config.families = ParseFamilies(ops);
  if ((value = getenv("IO_FAULTS_PATH")) && *value) config.path = value;
  if ((value = getenv("IO_FAULTS_ERRNO")) && *value) config.error = ParseErrno(value);
  if ((value = getenv("IO_FAULTS_AFTER"))) config.after = strtoull(value, NULL, 10);
  if ((value = getenv("IO_FAULTS_PROBABILITY"))) config.probability = strtod(value, NULL);
  if ((value = getenv("IO_FAULTS_SEED"))) config.seed = strtoull(value, NULL, 10);
  if ((value = getenv("IO_FAULTS_COUNT"))) config.count = strtoull(value, NULL, 10);
  if ((value = getenv("IO_FAULTS_SHORT"))) config.short_writes = atoi(value) != 0;
  if ((value = getenv("IO_FAULTS_ARM_FILE")) && *value) config.arm_file = value;
}

// The path an fd refers to, or "" (sockets and pipes read as "socket:[...]" and never match a
// path substring that names a directory).
static void FdPath(int fd, char* path, size_t size) {
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, size - 1);
  path[n > 0 ? n : 0] = '\0';
}

static uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Whether this call (of `family`, on `path`, named `call` in the log) fails; sets errno when it
// does.
static int ShouldFail(unsigned family, const char* call, const char* path, const char* path2) {
  if (!(config.families & family)) return 0;
  if (config.path && !(path && strstr(path, config.path)) &&
      !(path2 && strstr(path2, config.path))) {
    return 0;
  }
  if (config.arm_file) {
    struct stat armed;
    if (stat(config.arm_file, &armed) != 0) return 0;
    const uint64_t this_arming =
        SplitMix64((uint64_t)armed.st_ino ^ ((uint64_t)armed.st_mtim.tv_sec << 30) ^
                   (uint64_t)armed.st_mtim.tv_nsec);
    if (__atomic_exchange_n(&arming, this_arming, __ATOMIC_ACQ_REL) != this_arming) {
      __atomic_store_n(&matched, 0, __ATOMIC_RELAXED);  // armed anew: count from here
      __atomic_store_n(&injected, 0, __ATOMIC_RELAXED);
    }
  }
  const uint64_t number = __atomic_fetch_add(&matched, 1, __ATOMIC_RELAXED);
  if (number < config.after) return 0;
  if (config.probability < 1.0) {
    const double draw = (double)(SplitMix64(config.seed * 0x100000001B3ull + number) >> 11) *
                        (1.0 / 9007199254740992.0);
    if (draw >= config.probability) return 0;
  }
  const uint64_t so_far = __atomic_fetch_add(&injected, 1, __ATOMIC_RELAXED);
  if (config.count && so_far >= config.count) return 0;
  char line[1200];
  snprintf(line, sizeof(line), "io_faults: %s(%s%s%s) fails with %s (call %llu)\n", call,
           path ? path : "", path2 ? " -> " : "", path2 ? path2 : "", strerror(config.error),
           (unsigned long long)number + 1);
  Log(line);
  errno = config.error;
  return 1;
}

static int FdShouldFail(unsigned family, const char* call, int fd) {
  if (!(config.families & family)) return 0;
  char path[1024];
  FdPath(fd, path, sizeof(path));
  return ShouldFail(family, call, path, NULL);
}

// A pending failure left by a short write on `fd`: consumed, and errno set, when there is one.
static int TakePending(int fd) {
  for (int i = 0; i < kPendingSlots; ++i) {
    int expected = fd;
    if (__atomic_compare_exchange_n(&pending_fds[i], &expected, -1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      errno = config.error;
      return 1;
    }
  }
  return 0;
}

static void AddPending(int fd) {
  for (int i = 0; i < kPendingSlots; ++i) {
    int expected = -1;
    if (__atomic_compare_exchange_n(&pending_fds[i], &expected, fd, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      return;
    }
  }
}

#define REAL(name) ((__typeof__(&name))Real(#name))

static void* Real(const char* name) {
  void* function = dlsym(RTLD_NEXT, name);
  if (!function) {
    Log("io_faults: dlsym failed\n");
    _exit(98);
  }
  return function;
}

// The path `path` relative to `dirfd` names, for matching.
static const char* AtPath(int dirfd, const char* path, char* buffer, size_t size) {
  if (!path || path[0] == '/' || dirfd == AT_FDCWD) return path;
  char dir[1024];
  FdPath(dirfd, dir, sizeof(dir));
  snprintf(buffer, size, "%s/%s", dir, path);
  return buffer;
}

static mode_t ModeArgument(int flags, va_list args) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(args, int) : 0;
}

// -- open ------------------------------------------------------------------------------------

// Whether an open of `path` relative to `dirfd` fails.
static int OpenAtShouldFail(int dirfd, const char* path) {
  if (!(config.families & kOpen)) return 0;
  char buffer[2048];
  return ShouldFail(kOpen, "openat", AtPath(dirfd, path, buffer, sizeof(buffer)), NULL);
}

// open(path, flags[, mode]) and openat(dirfd, path, flags[, mode]) under their names.
#define OPEN_WRAPPER(name, PARAMETERS, fails, ...) \
  int name PARAMETERS {                            \
    va_list args;                                  \
    va_start(args, flags);                         \
    const mode_t mode = ModeArgument(flags, args); \
    va_end(args);                                  \
    if (fails) return -1;                          \
    return REAL(name)(__VA_ARGS__, flags, mode);   \
  }

OPEN_WRAPPER(open, (const char* path, int flags, ...), ShouldFail(kOpen, "open", path, NULL), path)
OPEN_WRAPPER(open64, (const char* path, int flags, ...), ShouldFail(kOpen, "open", path, NULL),
             path)
OPEN_WRAPPER(openat, (int dirfd, const char* path, int flags, ...), OpenAtShouldFail(dirfd, path),
             dirfd, path)
OPEN_WRAPPER(openat64, (int dirfd, const char* path, int flags, ...), OpenAtShouldFail(dirfd, path),
             dirfd, path)

int creat(const char* path, mode_t mode) {
  if (ShouldFail(kOpen, "creat", path, NULL)) return -1;
  return REAL(creat)(path, mode);
}

FILE* fopen(const char* path, const char* mode) {
  if (ShouldFail(kOpen, "fopen", path, NULL)) return NULL;
  return REAL(fopen)(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  if (ShouldFail(kOpen, "fopen", path, NULL)) return NULL;
  return REAL(fopen64)(path, mode);
}

// -- write -----------------------------------------------------------------------------------

ssize_t write(int fd, const void* data, size_t size) {
  if (fd > 2 && (config.families & kWrite)) {
    if (TakePending(fd)) return -1;
    if (FdShouldFail(kWrite, "write", fd)) {
      if (!config.short_writes || size < 2) return -1;
      const ssize_t n = REAL(write)(fd, data, size / 2);
      if (n > 0) AddPending(fd);
      return n;
    }
  }
  return REAL(write)(fd, data, size);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  if (fd > 2 && (config.families & kWritev)) {
    if (TakePending(fd)) return -1;
    if (FdShouldFail(kWritev, "writev", fd)) {
      if (!config.short_writes || count < 1) return -1;
      size_t total = 0;
      for (int i = 0; i < count; ++i) total += iov[i].iov_len;
      if (total < 2) return -1;
      // The first half of the bytes, through the real writev on a trimmed copy of the iovecs.
      struct iovec part[64];
      int parts = 0;
      size_t left = total / 2;
      for (int i = 0; i < count && left > 0 && parts < 64; ++i) {
        part[parts] = iov[i];
        if (part[parts].iov_len > left) part[parts].iov_len = left;
        left -= part[parts].iov_len;
        ++parts;
      }
      const ssize_t n = REAL(writev)(fd, part, parts);
      if (n > 0) AddPending(fd);
      return n;
    }
  }
  return REAL(writev)(fd, iov, count);
}

ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  if (FdShouldFail(kPwrite, "pwrite", fd)) return -1;
  return REAL(pwrite)(fd, data, size, offset);
}

ssize_t pwrite64(int fd, const void* data, size_t size, off64_t offset) {
  if (FdShouldFail(kPwrite, "pwrite", fd)) return -1;
  return REAL(pwrite64)(fd, data, size, offset);
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  if (FdShouldFail(kPwrite, "pwritev", fd)) return -1;
  return REAL(pwritev)(fd, iov, count, offset);
}

size_t fwrite(const void* data, size_t size, size_t count, FILE* stream) {
  if ((config.families & kFwrite) && FdShouldFail(kFwrite, "fwrite", fileno(stream))) {
    return 0;
  }
  return REAL(fwrite)(data, size, count, stream);
}

// -- sync ------------------------------------------------------------------------------------

int fsync(int fd) {
  if (FdShouldFail(kFsync, "fsync", fd)) return -1;
  return REAL(fsync)(fd);
}

int fdatasync(int fd) {
  if (FdShouldFail(kFdatasync, "fdatasync", fd)) return -1;
  return REAL(fdatasync)(fd);
}

// -- rename ----------------------------------------------------------------------------------

int rename(const char* from, const char* to) {
  if (ShouldFail(kRename, "rename", from, to)) return -1;
  return REAL(rename)(from, to);
}

// Whether a rename between paths relative to directory fds fails.
static int RenameAtShouldFail(const char* call, int from_dir, const char* from, int to_dir,
                              const char* to) {
  if (!(config.families & kRename)) return 0;
  char from_buffer[2048], to_buffer[2048];
  return ShouldFail(kRename, call, AtPath(from_dir, from, from_buffer, sizeof(from_buffer)),
                    AtPath(to_dir, to, to_buffer, sizeof(to_buffer)));
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) {
  if (RenameAtShouldFail("renameat", from_dir, from, to_dir, to)) return -1;
  return REAL(renameat)(from_dir, from, to_dir, to);
}

int renameat2(int from_dir, const char* from, int to_dir, const char* to, unsigned flags) {
  if (RenameAtShouldFail("renameat2", from_dir, from, to_dir, to)) return -1;
  return REAL(renameat2)(from_dir, from, to_dir, to, flags);
}
