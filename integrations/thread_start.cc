// thread_start.cc — runs the rules module's thread installer at the start of every thread, so a
// per-thread GraphTracker processor (tt-metal's processors are thread_local since PR #44668) is
// present on threads the runtime starts after tracking was installed.
//
// It defines pthread_create, which wins over libc's where this file is linked into the
// executable or into a library that is LD_PRELOADed; the real pthread_create is found with
// dlsym(RTLD_NEXT), or is a sanitizer runtime's interceptor when one is loaded (GCC's ASan and
// TSan define __interceptor_pthread_create). A library loaded later with dlopen (Python's import)
// does not interpose: there the shell installs on threads another way (docs/tt-metal.md).
#include <dlfcn.h>
#include <pthread.h>

#include <cerrno>
#include <cstdlib>
#include <new>

#include "ttmem_tracking.h"

extern "C" int __interceptor_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*),
                                            void*) __attribute__((weak));

namespace {

using CreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

struct Start {
  void* (*routine)(void*);
  void* arg;
};

void* Trampoline(void* p) {
  Start s = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  if (!ttmem::integration::Broken(ttmem::integration::kBreakThreads))
    ttmem::integration::RunThreadInstaller();
  return s.routine(s.arg);
}

CreateFn RealCreate() {
  static const CreateFn real = [] {
    if (__interceptor_pthread_create != nullptr) return &__interceptor_pthread_create;
    return reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  }();
  return real;
}

}  // namespace

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                              void* (*routine)(void*), void* arg) {
  CreateFn real = RealCreate();
  if (real == nullptr) return EAGAIN;
  Start* s = new (std::nothrow) Start{routine, arg};
  if (s == nullptr) return real(thread, attr, routine, arg);  // unwrapped rather than failed
  int rc = real(thread, attr, Trampoline, s);
  if (rc != 0) delete s;
  return rc;
}
