// thread_annotations.h — Clang's thread-safety analysis for the locks libttmem and the tt-metal
// integration hold (issue 27): a mutex the analysis knows, a scoped lock, and the attributes that
// say which lock guards what. Under GCC the attributes are empty; the `thread-safety` preset builds
// with clang and -Wthread-safety -Werror=thread-safety. Header-only and C++17, dependency-free
// (the integration embeds it).
#ifndef TTMEM_BASE_THREAD_ANNOTATIONS_H_
#define TTMEM_BASE_THREAD_ANNOTATIONS_H_

#include <mutex>

#if defined(__clang__)
#define TTMEM_TSA(x) __attribute__((x))
#else
#define TTMEM_TSA(x)
#endif

#define TTMEM_CAPABILITY(x) TTMEM_TSA(capability(x))
#define TTMEM_SCOPED_CAPABILITY TTMEM_TSA(scoped_lockable)
#define TTMEM_GUARDED_BY(x) TTMEM_TSA(guarded_by(x))
#define TTMEM_PT_GUARDED_BY(x) TTMEM_TSA(pt_guarded_by(x))
#define TTMEM_REQUIRES(...) TTMEM_TSA(requires_capability(__VA_ARGS__))
#define TTMEM_ACQUIRE(...) TTMEM_TSA(acquire_capability(__VA_ARGS__))
#define TTMEM_RELEASE(...) TTMEM_TSA(release_capability(__VA_ARGS__))
#define TTMEM_TRY_ACQUIRE(...) TTMEM_TSA(try_acquire_capability(__VA_ARGS__))
#define TTMEM_EXCLUDES(...) TTMEM_TSA(locks_excluded(__VA_ARGS__))
#define TTMEM_NO_THREAD_SAFETY_ANALYSIS TTMEM_TSA(no_thread_safety_analysis)

namespace ttmem::base {

// std::mutex, known to the analysis.
class TTMEM_CAPABILITY("mutex") Mutex {
 public:
  void lock() TTMEM_ACQUIRE() { m_.lock(); }
  void unlock() TTMEM_RELEASE() { m_.unlock(); }
  bool try_lock() TTMEM_TRY_ACQUIRE(true) { return m_.try_lock(); }

 private:
  std::mutex m_;
};

// Holds a Mutex for its scope.
class TTMEM_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) TTMEM_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() TTMEM_RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace ttmem::base

#endif  // TTMEM_BASE_THREAD_ANNOTATIONS_H_
