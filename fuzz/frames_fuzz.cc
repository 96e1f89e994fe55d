// Fuzzes the frame decoder: arbitrary bytes on a real socket must give frames, "again", "closed"
// or "malformed", never a crash, a hang or an oversized buffer.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "base/socket.h"
#include "protocol/frames.h"
#include "protocol/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 200000) return 0;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  int buf = 1 << 20;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  ttmem::base::WriteAll(sv[0], data, size);
  ::close(sv[0]);
  ttmem::proto::FrameReader reader(ttmem::proto::kMaxClientPayload);
  for (int i = 0; i < 100000; ++i) {
    ttmem::proto::Frame f;
    ttmem::proto::ReadResult r = reader.Next(sv[1], &f);
    if (r != ttmem::proto::ReadResult::kFrame) break;
    if (f.payload.size() > ttmem::proto::kMaxClientPayload) std::abort();
  }
  ::close(sv[1]);
  return 0;
}
