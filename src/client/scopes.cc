// Scope names: a process-wide intern table (name -> id) that push and mark consult under a lock
// of its own; the allocation path only reads its thread's current id (client.cc). A name is sent
// to the daemon at once when the socket is free, else by the connector thread (woken), and all of
// them again on every new connection. Kept C++17-compatible.
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/text.h"
#include "client/client_internal.h"
#include "protocol/frames.h"
#include "protocol/wire.h"

namespace ttmem::client {
namespace {

struct OpNames {
  ttmem::base::Mutex mu;
  std::unordered_map<std::string, uint32_t> ids TTMEM_GUARDED_BY(mu);
  std::vector<proto::OpNameBody> bodies TTMEM_GUARDED_BY(mu);  // id - 1
  size_t sent = 0;  // on the current connection (guarded by g_sock_mu too)
};
// Heap, never freed: threads may outlive static destruction.
OpNames& Names() {
  static OpNames* names = new OpNames;
  return *names;
}

}  // namespace

uint32_t InternOpName(const char* name) {
  if (name == nullptr || name[0] == '\0') return 0;
  // Cut at kMaxOpName bytes, never inside a UTF-8 character (the daemon would show U+FFFD).
  const size_t len = strnlen(name, proto::kMaxOpName + 1);
  const std::string key(name, base::Utf8Cut(std::string_view(name, len), proto::kMaxOpName));
  OpNames& n = Names();
  uint32_t id = 0;
  {
    ttmem::base::MutexLock lock(n.mu);
    auto it = n.ids.find(key);
    if (it != n.ids.end()) return it->second;
    if (n.bodies.size() >= proto::kMaxOpNames) return 0;
    proto::OpNameBody body{};
    body.id = id = static_cast<uint32_t>(n.bodies.size() + 1);
    body.length = static_cast<uint32_t>(key.size());
    std::memcpy(body.name, key.data(), key.size());
    n.bodies.push_back(body);
    n.ids.emplace(key, id);
  }
  // Send it now if nobody is using the socket; else the connector does (it may be in a resync).
  if (g_sock_mu.try_lock()) {
    if (g_link.sock_fd >= 0) SendOpNamesLocked();
    g_sock_mu.unlock();
  } else if (g_link.connector_wake >= 0) {
    uint64_t one = 1;
    ssize_t w = ::write(g_link.connector_wake, &one, sizeof(one));
    (void)w;
  }
  return id;
}

void SendOpNamesLocked() {
  OpNames& n = Names();
  std::vector<proto::OpNameBody> todo;
  {
    ttmem::base::MutexLock lock(n.mu);
    todo.assign(n.bodies.begin() + static_cast<std::ptrdiff_t>(n.sent), n.bodies.end());
  }
  size_t done = 0;
  for (const proto::OpNameBody& b : todo) {
    if (!proto::SendFrame(g_link.sock_fd, proto::FrameType::kOpName, &b, sizeof(b))) break;
    ++done;
  }
  ttmem::base::MutexLock lock(n.mu);
  n.sent += done;
}

void ForgetOpNamesSent() {
  OpNames& n = Names();
  ttmem::base::MutexLock lock(n.mu);
  n.sent = 0;
}

void LockOpNames() TTMEM_NO_THREAD_SAFETY_ANALYSIS {
  Names().mu.lock();
}
void UnlockOpNames() TTMEM_NO_THREAD_SAFETY_ANALYSIS {
  Names().mu.unlock();
}

}  // namespace ttmem::client
