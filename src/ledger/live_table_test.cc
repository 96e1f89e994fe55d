#include "ledger/live_table.h"

#include <cstdint>
#include <map>
#include <random>
#include <utility>

#include <gtest/gtest.h>

#include "ledger/ledger.h"

namespace ttmem::ledger {
namespace {

// Random inserts, finds and erases against a std::map of the same keys, through growth, shrinking
// and probe runs that wrap the index: every entry stays findable, nothing else is found, and
// iteration yields exactly the live set.
TEST(LiveTable, AgreesWithAMapThroughGrowthAndShrinking) {
  LiveTable<LiveEntry> t;
  std::map<std::pair<uint16_t, uint64_t>, uint64_t> model;  // (device, id) -> address
  std::mt19937_64 rng(26);
  auto probe = [](uint16_t device, uint64_t id) {
    LiveEntry e;
    e.id = id;
    e.device = device;
    return e;
  };
  for (int round = 0; round < 6; ++round) {
    // Grow to tens of thousands, with ids dense (a runtime's counter) and sparse (addresses).
    const int n = 20000 + round * 7000;
    for (int i = 0; i < n; ++i) {
      const uint16_t device = static_cast<uint16_t>(rng() % 4);
      const uint64_t id = round % 2 == 0 ? rng() % 60000 : rng();
      LiveEntry e = probe(device, id);
      e.address = rng();
      auto [it, inserted] = t.insert(e);
      auto [m, fresh] = model.try_emplace({device, id}, e.address);
      ASSERT_EQ(inserted, fresh);
      ASSERT_EQ(it->address, m->second);
    }
    ASSERT_EQ(t.size(), model.size());
    // Erase most, from the model's order (not the table's).
    for (auto m = model.begin(); m != model.end();) {
      if (rng() % 10 == 0) {
        ++m;
        continue;
      }
      auto it = t.find(probe(m->first.first, m->first.second));
      ASSERT_NE(it, t.end());
      t.erase(it);
      ASSERT_EQ(t.find(probe(m->first.first, m->first.second)), t.end());
      m = model.erase(m);
    }
    ASSERT_EQ(t.size(), model.size());
    std::map<std::pair<uint16_t, uint64_t>, uint64_t> seen;
    for (const LiveEntry& e : t) seen[{e.device, e.id}] = e.address;
    ASSERT_EQ(seen, model);
    for (const auto& [key, address] : model) {
      auto it = t.find(probe(key.first, key.second));
      ASSERT_NE(it, t.end());
      EXPECT_EQ(it->address, address);
    }
  }
  for (auto m = model.begin(); m != model.end(); m = model.erase(m))
    t.erase(t.find(probe(m->first.first, m->first.second)));
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.find(probe(0, 1)), t.end());
}

}  // namespace
}  // namespace ttmem::ledger
