// A real client for the op-attribution tests (issue 17): known allocations made inside known
// scopes, on threads and in a forked child, through the public C ABI only. Prints
// "ready PID CHILD_PID" once everything is flushed, then waits for stdin to close.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

#include "ttmem/ttmem.h"

namespace {

constexpr uint64_t kMiB = 1ull << 20;

int Fail(const char* what) {
  std::fprintf(stderr, "scope_client: %s\n", what);
  return 1;
}

void WaitForStdinClose() {
  char c;
  while (::read(0, &c, 1) > 0) {
  }
}

}  // namespace

int main() {
  if (ttmem_scope_push("outer") != 0) return Fail("push outer");
  ttmem_alloc(0, TTMEM_DRAM, 1, 0x1000, 1 * kMiB);  // outer
  if (ttmem_scope_push("inner") != 0) return Fail("push inner");
  ttmem_alloc(0, TTMEM_DRAM, 2, 0x2000, 2 * kMiB);  // inner
  ttmem_scope_pop();
  ttmem_alloc(0, TTMEM_DRAM, 3, 0x3000, 3 * kMiB);  // outer again
  // Refused names: the allocations keep the enclosing scope; pops stay balanced.
  if (ttmem_scope_push("") != -1 || ttmem_scope_push(nullptr) != -1) return Fail("empty name");
  ttmem_alloc(0, TTMEM_L1, 5, 0x5000, 64 * 1024);  // outer
  ttmem_scope_pop();
  ttmem_scope_pop();
  ttmem_scope_pop();  // outer
  // A long name is cut at TTMEM_MAX_SCOPE_NAME bytes.
  const std::string long_name(300, 'x');
  if (ttmem_scope_push(long_name.c_str()) != 0) return Fail("push long");
  ttmem_alloc(0, TTMEM_L1, 4, 0x4000, 128 * 1024);
  ttmem_scope_pop();
  // Threads have their own scopes; a thread starts in none.
  std::thread a([] {
    ttmem_scope_push("thread_a");
    ttmem_alloc(1, TTMEM_DRAM, 10, 0x10000, 4 * kMiB);
    ttmem_scope_pop();
  });
  std::thread b([] { ttmem_alloc(1, TTMEM_DRAM, 11, 0x20000, 5 * kMiB); });
  a.join();
  b.join();
  if (ttmem_mark("phase1") != 0) return Fail("mark");
  // A forked child is still inside the scopes its forking thread was in.
  ttmem_scope_push("before_fork");
  if (ttmem_flush(10000) != 0) return Fail("flush");
  int done[2];
  if (::pipe(done) != 0) return Fail("pipe");
  const pid_t child = ::fork();
  if (child == 0) {
    ttmem_alloc(0, TTMEM_DRAM, 20, 0x30000, 6 * kMiB);  // before_fork
    ttmem_scope_push("child_op");
    ttmem_alloc(0, TTMEM_DRAM, 21, 0x40000, 7 * kMiB);  // child_op
    ttmem_scope_pop();
    if (ttmem_flush(10000) != 0) return Fail("child flush");
    if (::write(done[1], "y", 1) != 1) return Fail("child pipe");
    WaitForStdinClose();
    return 0;
  }
  char c = 0;
  if (::read(done[0], &c, 1) != 1 || c != 'y') return Fail("the child did not flush");
  ttmem_scope_pop();
  ttmem_alloc(0, TTMEM_DRAM, 30, 0x50000, 8 * kMiB);  // outside every scope
  if (ttmem_flush(10000) != 0) return Fail("flush");
  std::printf("ready %d %d\n", static_cast<int>(::getpid()), static_cast<int>(child));
  std::fflush(stdout);
  WaitForStdinClose();
  ::kill(child, SIGTERM);
  ::waitpid(child, nullptr, 0);
  return 0;
}
