// StateFile: the live table the daemon keeps in a memfd that the client holds for it, so that a
// restarted daemon gets every live buffer back. Hostile contents are dropped, never trusted.
#include "daemon/state_file.h"

#include <sys/mman.h>
#include <unistd.h>

#include <map>

#include <gtest/gtest.h>

namespace ttmem::daemon {
namespace {

base::UniqueFd Dup(const StateFile& s) {
  return base::UniqueFd(::dup(s.fd()));
}

std::map<uint64_t, ledger::LiveBuffer> Restore(StateFile& s, uint64_t* bad) {
  std::map<uint64_t, ledger::LiveBuffer> out;
  *bad = s.ForEach([&](uint32_t, uint32_t, uint64_t id, const ledger::LiveBuffer& b) {
    out[id] = b;
    return true;
  });
  return out;
}

TEST(StateFile, WhatIsPutComesBackInAnotherDaemon) {
  std::string error;
  auto a = StateFile::Create(77, &error);
  ASSERT_NE(a, nullptr) << error;
  const uint32_t s1 = a->Put(StateFile::kNoSlot, 2, 10, {0x1000, 500, 0, 1, false});
  const uint32_t s2 = a->Put(StateFile::kNoSlot, 3, 11, {0x2000, 64, 0, 5, true});
  a->Put(StateFile::kNoSlot, 0, 12, {0, 1, 0, 0, false});
  a->Release(s1);
  EXPECT_EQ(a->Put(s2, 3, 11, {0x3000, 128, 0, 5, true}), s2);  // replaced in place
  a->SetCounters(4, 5);
  auto b = StateFile::Open(77, Dup(*a), &error);  // as a restarted daemon: the same memfd
  ASSERT_NE(b, nullptr) << error;
  uint64_t bad = 0;
  auto live = Restore(*b, &bad);
  EXPECT_EQ(bad, 0u);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[11].address, 0x3000u);
  EXPECT_EQ(live[11].size, 128u);
  EXPECT_TRUE(live[11].hooked);
  EXPECT_EQ(live.count(10), 0u);
  EXPECT_EQ(b->unknown_frees(), 4u);
  EXPECT_EQ(b->duplicate_allocs(), 5u);
}

TEST(StateFile, GrowsPastItsFirstSize) {
  std::string error;
  auto a = StateFile::Create(5, &error);
  ASSERT_NE(a, nullptr) << error;
  for (uint64_t id = 0; id < 20000; ++id)
    ASSERT_NE(a->Put(StateFile::kNoSlot, 0, id, {id, 8, 0, 0, false}), StateFile::kNoSlot) << id;
  auto b = StateFile::Open(5, Dup(*a), &error);
  ASSERT_NE(b, nullptr) << error;
  uint64_t bad = 0;
  EXPECT_EQ(Restore(*b, &bad).size(), 20000u);
}

TEST(StateFile, ATableOfAnotherProcessIsRefused) {
  std::string error;
  auto a = StateFile::Create(5, &error);
  ASSERT_NE(a, nullptr) << error;
  EXPECT_EQ(StateFile::Open(6, Dup(*a), &error), nullptr);
  EXPECT_NE(error.find("another process"), std::string::npos) << error;
}

TEST(StateFile, HostileSlotsAreDroppedAndCounted) {
  std::string error;
  auto a = StateFile::Create(9, &error);
  ASSERT_NE(a, nullptr) << error;
  a->Put(StateFile::kNoSlot, 0, 1, {0, 8, 0, 0, false});
  // The client owns the memfd: it may write anything into the slots.
  void* p = ::mmap(nullptr, sizeof(StateHeader) + 2 * sizeof(StateSlot), PROT_READ | PROT_WRITE,
                   MAP_SHARED, a->fd(), 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* slots = reinterpret_cast<StateSlot*>(static_cast<char*>(p) + sizeof(StateHeader));
  slots[1] = StateSlot{2, 0, 8, 0, /*type=*/200, 0, /*live=*/1, 0};  // no such type
  ::munmap(p, sizeof(StateHeader) + 2 * sizeof(StateSlot));
  auto b = StateFile::Open(9, Dup(*a), &error);
  ASSERT_NE(b, nullptr) << error;
  uint64_t bad = 0;
  auto live = Restore(*b, &bad);
  EXPECT_EQ(bad, 1u);
  EXPECT_EQ(live.size(), 1u);
}

}  // namespace
}  // namespace ttmem::daemon
