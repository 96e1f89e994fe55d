// Frames over a real socket pair: whole frames, fds alongside, and what a hostile peer sends.
#include "protocol/frames.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "base/socket.h"
#include "protocol/wire.h"

namespace ttmem::proto {
namespace {

struct Pair {
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
  base::UniqueFd a, b;
};

TEST(Frames, AFrameArrivesWholeWithItsFds) {
  Pair p;
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const std::string payload = "{\"cmd\": \"ping\"}";
  ASSERT_TRUE(SendFrame(p.a.get(), FrameType::kQuery, payload.data(),
                        static_cast<uint32_t>(payload.size()), pipefd[0], pipefd[1]));
  ::close(pipefd[0]);
  ::close(pipefd[1]);
  Frame f;
  std::string error;
  ASSERT_TRUE(RecvFrame(p.b.get(), 1024, &f, &error)) << error;
  EXPECT_EQ(f.header.type, static_cast<uint16_t>(FrameType::kQuery));
  EXPECT_EQ(std::string(f.payload.begin(), f.payload.end()), payload);
  ASSERT_TRUE(f.passed_fd);
  ASSERT_TRUE(f.passed_fd2);
  // The two ends of the pipe still work through the passed copies.
  ASSERT_EQ(::write(f.passed_fd2.get(), "x", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(f.passed_fd.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(Frames, ManyFramesInOneReadAreCutApart) {
  Pair p;
  for (uint32_t i = 0; i < 3; ++i)
    ASSERT_TRUE(SendFrame(p.a.get(), FrameType::kQueryReply, &i, sizeof(i)));
  FrameReader reader(64);
  for (uint32_t i = 0; i < 3; ++i) {
    Frame f;
    ASSERT_EQ(reader.Next(p.b.get(), &f), ReadResult::kFrame);
    uint32_t v;
    std::memcpy(&v, f.payload.data(), sizeof(v));
    EXPECT_EQ(v, i);
  }
}

TEST(Frames, BadMagicAndOversizePayloadsAreMalformed) {
  {
    Pair p;
    FrameHeader h{0xdeadbeef, kWireVersion, static_cast<uint16_t>(FrameType::kQuery), 0, 0};
    ASSERT_TRUE(base::WriteAll(p.a.get(), &h, sizeof(h)));
    FrameReader reader(64);
    Frame f;
    EXPECT_EQ(reader.Next(p.b.get(), &f), ReadResult::kMalformed);
    EXPECT_NE(reader.error().find("magic"), std::string::npos) << reader.error();
  }
  {
    Pair p;
    FrameHeader h{kFrameMagic, kWireVersion, static_cast<uint16_t>(FrameType::kQuery), 65, 0};
    ASSERT_TRUE(base::WriteAll(p.a.get(), &h, sizeof(h)));
    FrameReader reader(64);  // at most 64 payload bytes: refused before any is buffered
    Frame f;
    EXPECT_EQ(reader.Next(p.b.get(), &f), ReadResult::kMalformed);
  }
}

TEST(Frames, APeerThatHangsUpIsClosedNotAnError) {
  Pair p;
  p.a.reset();
  FrameReader reader(64);
  Frame f;
  EXPECT_EQ(reader.Next(p.b.get(), &f), ReadResult::kClosed);
  std::string error;
  EXPECT_FALSE(RecvFrame(p.b.get(), 64, &f, &error));
  EXPECT_EQ(error, "connection closed by the peer");
}

// A device body carries the topology (224 bytes) only when it is known and only to a daemon that
// acked it takes it (0.4, wire version 3): a daemon before 0.4 cuts off a 224-byte body.
TEST(Frames, TheTopologyGoesOnlyToADaemonThatTakesIt) {
  DeviceInfoBody b{};
  EXPECT_EQ(DeviceInfoBodySize(b, kDaemonWireVersion), kDeviceInfoBodyV2Size);
  b.flags = kDeviceTopologyValid;
  EXPECT_EQ(DeviceInfoBodySize(b, kDaemonWireVersion), sizeof(DeviceInfoBody));
  EXPECT_EQ(DeviceInfoBodySize(b, 2), kDeviceInfoBodyV2Size);  // an older daemon
  EXPECT_EQ(DeviceInfoBodySize(b, 0), kDeviceInfoBodyV2Size);  // not acked yet
}

}  // namespace
}  // namespace ttmem::proto
