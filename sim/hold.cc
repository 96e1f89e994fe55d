#include "sim/hold.h"

#include <cstdio>
#include <memory>
#include <stdexcept>

#include "base/bytes.h"
#include "protocol/mem_types.h"
#include "sim/allocator.h"
#include "sim/buffer.h"
#include "sim/mesh.h"
#include "sim/tracking.h"

namespace ttsim {
namespace {

constexpr uint64_t kPage = 2048;  // a 32x32 bfloat16 tile

struct Spec {
  uint32_t device = 0;
  MemType type = MemType::kDram;
  uint64_t bytes = 0;
};

// DEV:TYPE:BYTES, e.g. 4:l1:48M (TYPE: dram, l1, l1_small, trace).
Spec ParseSpec(const std::string& flag, const std::string& text, uint32_t devices) {
  const size_t a = text.find(':'), b = text.find(':', a == std::string::npos ? a : a + 1);
  const auto fail = [&](const std::string& why) {
    return BadSpec(flag + " '" + text + "': " + why +
                   " (give DEV:TYPE:BYTES, e.g. 4:l1:48M; TYPE is dram, l1, l1_small "
                   "or trace)");
  };
  if (a == std::string::npos || b == std::string::npos) throw fail("not DEV:TYPE:BYTES");
  const std::string dev = text.substr(0, a), type = text.substr(a + 1, b - a - 1);
  Spec s;
  if (dev.empty() || dev.size() > 6 || dev.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(dev) >= devices)
    throw fail("no such device here (" + std::to_string(devices) + " devices)");
  s.device = static_cast<uint32_t>(std::stoul(dev));
  const auto t = ttmem::proto::MemTypeFromKey(type);
  if (!t || (*t != 0 && *t != 1 && *t != 3 && *t != 4)) throw fail("not a buffer type");
  s.type = static_cast<MemType>(*t);
  const auto bytes = ttmem::base::ParseBytes(text.substr(b + 1));
  if (!bytes || *bytes == 0) throw fail("not a size");
  s.bytes = *bytes;
  return s;
}

}  // namespace

void RunHold(const ScenarioOptions& o,
             const std::function<void(const std::string&, const std::vector<Device*>&)>& at,
             const std::function<void()>& wait) {
  std::vector<std::unique_ptr<Device>> devices;
  std::vector<Device*> devs;
  for (uint32_t i = 0; i < o.rows * o.cols; ++i) {
    devices.push_back(OpenDevice(i, *o.arch));
    devs.push_back(devices.back().get());
    AnnounceDevice(*devs.back());  // every chip, held on or not
  }
  std::vector<std::shared_ptr<Buffer>> held;
  for (const std::string& h : o.holds) {
    const Spec s = ParseSpec("--hold", h, o.rows * o.cols);
    held.push_back(Buffer::Create(*devs[s.device], s.bytes, kPage, s.type));
  }
  // Fragmented: buffers of BYTES until the type is full, then every other one freed: half the
  // space is free, in holes of BYTES / banks per bank.
  for (const std::string& f : o.fragments) {
    const Spec s = ParseSpec("--fragment", f, o.rows * o.cols);
    std::vector<std::shared_ptr<Buffer>> fill;
    try {
      for (;;) fill.push_back(Buffer::Create(*devs[s.device], s.bytes, kPage, s.type));
    } catch (const OutOfMemory&) {
    }
    for (size_t i = 0; i < fill.size(); ++i)
      if (i % 2 == 1) held.push_back(std::move(fill[i]));
    fill.clear();
  }
  at("held", devs);
  wait();
  held.clear();
  at("freed", devs);
}

}  // namespace ttsim
