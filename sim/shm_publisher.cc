#include "sim/shm_publisher.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "sim/buffer.h"
#include "sim/observer.h"
#include "sim/program.h"
#include "ttshm/tt_shm.h"

namespace ttsim {
namespace ts = ttmem::ttshm;

uint64_t SimChipId(uint32_t device) {
  return 0x5100000000ull + device;
}

namespace {

// tt-metal's five counted types; -1: not counted (system memory).
int ShmType(MemType t) {
  switch (t) {
    case MemType::kDram:
      return 0;
    case MemType::kL1:
      return 1;
    case MemType::kL1Small:
      return 2;
    case MemType::kTrace:
      return 3;
    case MemType::kCb:
      return 4;
    default:
      return -1;
  }
}

class Region {
 public:
  Region(const std::string& dir, uint32_t device) {
    const std::string path = dir + "/tt_device_" + std::to_string(SimChipId(device)) + "_memory";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      std::fprintf(stderr, "ttmem-sim: --publish-shm: cannot open %s\n", path.c_str());
      return;
    }
    struct stat st;
    bool fresh = ::fstat(fd, &st) == 0 && st.st_size == 0;
    if (fresh && ::ftruncate(fd, ts::kRegionSize) != 0) {
      ::close(fd);
      return;
    }
    void* m = ::mmap(nullptr, ts::kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) return;
    b_ = static_cast<char*>(m);
    if (fresh || U32(0)->load() == 0) {
      U32(ts::kOffInitState)->store(1);  // in progress
      U32(0)->store(4);
      U64(32)->store(SimChipId(device));
      U32(40)->store(device);
      for (int c = 0; c < ts::kMaxChips; ++c) U32(ts::kOffChips + ts::kChipSize * c)->store(~0u);
      U32(ts::kOffInitState)->store(ts::kReady, std::memory_order_release);
    }
    U32(16)->fetch_add(1);  // reference_count
    // Claim a slot for this process.
    const int32_t me = static_cast<int32_t>(::getpid());
    for (int i = 0; i < ts::kMaxProcesses && slot_ < 0; ++i) {
      int32_t free = 0;
      if (I32(Slot(i))->compare_exchange_strong(free, me)) slot_ = i;
    }
    if (slot_ >= 0) {
      char comm[64] = {};
      FILE* f = std::fopen("/proc/self/comm", "r");
      if (f != nullptr) {
        if (std::fgets(comm, sizeof(comm), f) != nullptr) comm[std::strcspn(comm, "\n")] = '\0';
        std::fclose(f);
      }
      std::memcpy(b_ + Slot(slot_) + 56, comm, sizeof(comm) - 1);
      U32(4)->fetch_add(1);  // num_active_processes
    }
  }
  ~Region() {
    if (b_ == nullptr) return;
    if (slot_ >= 0) {  // release the slot the way tt-metal's writers do
      for (int t = 0; t < ts::kNumFigures; ++t) Change(t, 0, false, /*all=*/true);
      std::memset(b_ + Slot(slot_) + 48, 0, 8 + 64);
      uint32_t active = U32(4)->load();
      while (active > 0 && !U32(4)->compare_exchange_weak(active, active - 1)) {
      }
      I32(Slot(slot_))->store(0, std::memory_order_release);
    }
    U32(16)->fetch_sub(1);
    ::munmap(b_, ts::kRegionSize);
  }
  // Adds (or subtracts, saturating at 0) `bytes` of type t in the totals and this process's slot;
  // `all`: subtract whatever the slot holds.
  void Change(int t, uint64_t bytes, bool add, bool all = false) {
    if (b_ == nullptr || slot_ < 0) return;
    auto* mine = U64(Slot(slot_) + 8 + 8 * static_cast<size_t>(t));
    auto* total = U64(ts::kOffTotals + 8 * static_cast<size_t>(t));
    if (all) bytes = mine->load();
    for (auto* v : {mine, total}) {
      uint64_t cur = v->load(std::memory_order_relaxed);
      while (!v->compare_exchange_weak(cur, add ? cur + bytes : cur > bytes ? cur - bytes : 0)) {
      }
    }
    U64(Slot(slot_) + 48)->store(Now(), std::memory_order_relaxed);
    U64(8)->store(Now(), std::memory_order_relaxed);
  }

 private:
  static size_t Slot(int i) {
    return ts::kOffProcesses + ts::kProcessSize * static_cast<size_t>(i);
  }
  static uint64_t Now() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  }
  std::atomic<uint64_t>* U64(size_t off) {
    return reinterpret_cast<std::atomic<uint64_t>*>(b_ + off);
  }
  std::atomic<uint32_t>* U32(size_t off) {
    return reinterpret_cast<std::atomic<uint32_t>*>(b_ + off);
  }
  std::atomic<int32_t>* I32(size_t off) {
    return reinterpret_cast<std::atomic<int32_t>*>(b_ + off);
  }
  char* b_ = nullptr;
  int slot_ = -1;
};

class Publisher : public AllocationObserver {
 public:
  explicit Publisher(std::string dir) : dir_(std::move(dir)) {}
  void DeviceOpened(const Device& d) override { RegionOf(d.id()); }
  void BufferAllocated(const Buffer& b) override { OnBuffer(b, true); }
  void BufferDeallocated(const Buffer& b) override { OnBuffer(b, false); }
  void ResidentChanged(const Device& d) override {
    // The resident program's CBs (PR #53721 moves tt-metal's CB figure to dispatch).
    const uint64_t now = d.ResidentFootprint().cb_bytes;
    uint64_t before = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      uint64_t& published = cbs_[d.id()];
      before = published;
      published = now;
    }
    if (now > before) RegionOf(d.id()).Change(4, now - before, true);
    if (before > now) RegionOf(d.id()).Change(4, before - now, false);
  }

 private:
  void OnBuffer(const Buffer& b, bool add) {
    // Like tt-metal's provider: what a device's allocator placed (not a mesh's backing, not a
    // captured buffer); system memory is not counted.
    const int t = ShmType(b.type());
    if (t < 0 || b.hooked() || b.target().is_mesh() || b.is_view()) return;
    RegionOf(b.target().id()).Change(t, b.size(), add);
  }
  Region& RegionOf(uint32_t device) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& r = regions_[device];
    if (!r) r = std::make_unique<Region>(dir_, device);
    return *r;
  }
  std::string dir_;
  std::mutex mu_;
  std::map<uint32_t, std::unique_ptr<Region>> regions_;
  std::map<uint32_t, uint64_t> cbs_;  // CB bytes published per device
};

std::shared_ptr<Publisher>* g_publisher = nullptr;

}  // namespace

void InstallShmPublisher(const std::string& dir) {
  // tt-metal's switch for its own statistics (and only for them: ttmem's tracking stays on).
  if (const char* off = std::getenv("TT_METAL_SHM_TRACKING_DISABLED");
      off != nullptr && std::string(off) == "1")
    return;
  auto p = std::make_shared<Publisher>(dir);
  AllocationObservers::Add(p);
  // Released at exit (slots freed); a process killed by a signal leaves them, like tt-metal.
  g_publisher = new std::shared_ptr<Publisher>(p);
  std::atexit([] {
    AllocationObservers::Clear();
    delete g_publisher;
    g_publisher = nullptr;
  });
}

}  // namespace ttsim
