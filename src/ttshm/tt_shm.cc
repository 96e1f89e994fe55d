#include "ttshm/tt_shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/mapping.h"

namespace ttmem::ttshm {
namespace {

template <class T>
T Load(const std::string& b, size_t off) {
  T v{};
  if (off + sizeof(T) <= b.size()) std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

template <class T>
void Store(std::string* b, size_t off, T v) {
  std::memcpy(b->data() + off, &v, sizeof(T));
}

// Printable ASCII from a fixed field (comm names are): up to the first NUL, other bytes '?'.
std::string Text(const std::string& b, size_t off, size_t len) {
  std::string s;
  for (size_t i = 0; i < len && off + i < b.size(); ++i) {
    char c = b[off + i];
    if (c == '\0') break;
    s += (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) >= 127) ? '?' : c;
  }
  return s;
}

std::string ReadSmall(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// When the process started, ns since the epoch; 0 if unknown.
uint64_t StartNs(pid_t pid) {
  std::string stat = ReadSmall(fmt::format("/proc/{}/stat", pid));
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) {
      static const uint64_t btime = [] {
        std::istringstream s(ReadSmall("/proc/stat"));
        std::string key;
        uint64_t v = 0;
        while (s >> key)
          if (key == "btime" && s >> v) return v;
        return uint64_t{0};
      }();
      const long hz = ::sysconf(_SC_CLK_TCK);
      if (btime == 0 || hz <= 0) return 0;
      const uint64_t ticks = std::stoull(field);
      return (btime + ticks / static_cast<uint64_t>(hz)) * 1000000000ull +
             ticks % static_cast<uint64_t>(hz) * (1000000000ull / static_cast<uint64_t>(hz));
    }
  return 0;
}

// The chip id in a region's name (tt_device_<id>_memory), if it has one.
std::optional<uint64_t> ChipIdOfName(const std::string& path) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  const std::string pre = "tt_device_", post = "_memory";
  if (name.size() <= pre.size() + post.size() || name.rfind(pre, 0) != 0) return std::nullopt;
  const std::string digits = name.substr(pre.size(), name.size() - pre.size() - post.size());
  if (digits.empty() || digits.size() > 19 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(digits);
}

// The region's process slots in use.
void ReadProcesses(const std::string& b, Region* r) {
  for (int i = 0; i < kMaxProcesses; ++i) {
    const size_t at = kOffProcesses + kProcessSize * static_cast<size_t>(i);
    const int32_t pid = Load<int32_t>(b, at);
    if (pid <= 0) continue;  // 0 free, -1 being released (v4), other negatives: garbage
    Process p;
    p.pid = pid;
    for (int t = 0; t < kNumFigures; ++t) p.used[t] = Load<uint64_t>(b, at + 8 + 8 * t);
    p.last_update_ns = Load<uint64_t>(b, at + 48);
    p.name = Text(b, at + 56, 64);
    r->processes.push_back(std::move(p));
  }
}

}  // namespace

bool ReadRegion(const std::string& path, Region* out, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    *error = std::strerror(errno);
    return false;
  }
  std::string b(kRegionSize + 1, '\0');  // one more: a larger file is not this layout either
  ssize_t n = ::pread(fd, b.data(), b.size(), 0);
  ::close(fd);
  if (n < 0) {
    *error = std::strerror(errno);
    return false;
  }
  b.resize(static_cast<size_t>(n));
  Region r;
  r.path = path;
  r.version = Load<uint32_t>(b, 0);
  if (b.size() < 4) {
    *error = fmt::format("truncated: {} bytes", b.size());
    return false;
  }
  // Version 2 (tt-metal main for a few days in April 2026) has version 3's offsets.
  if (r.version < 2 || r.version > 4) {
    *error = fmt::format("layout version {} is not one this reader knows (2, 3, 4)", r.version);
    return false;
  }
  const size_t need = r.version == 4 ? kRegionSize : kV3MinSize;
  if (b.size() < need || b.size() > kRegionSize) {
    *error = fmt::format("{} bytes where version {} has {}", b.size(), r.version, need);
    return false;
  }
  if (r.version == 4) {
    uint32_t init = Load<uint32_t>(b, kOffInitState);
    if (init != kReady) {
      *error = init == 1 ? "still initialising (init_state 1)"
                         : fmt::format("not initialised (init_state {:#x})", init);
      return false;
    }
  }
  r.num_active_processes = Load<uint32_t>(b, 4);
  r.reference_count = Load<uint32_t>(b, 16);
  r.last_update_ns = Load<uint64_t>(b, 8);
  r.asic_id = Load<uint64_t>(b, 32);
  r.chip_id = r.asic_id;
  if (auto id = ChipIdOfName(path)) r.chip_id = *id;
  r.device_id = Load<uint32_t>(b, 40);
  for (int t = 0; t < kNumFigures; ++t) r.totals[t] = Load<uint64_t>(b, kOffTotals + 8 * t);
  ReadProcesses(b, &r);
  *out = std::move(r);
  return true;
}

std::vector<Region> Discover(const std::string& dir, std::vector<std::string>* problems) {
  std::vector<Region> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    problems->push_back(fmt::format("{}: {}", dir, std::strerror(errno)));
    return out;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    const std::string pre = "tt_device_", post = "_memory";
    if (name.size() > pre.size() + post.size() && name.rfind(pre, 0) == 0 &&
        name.compare(name.size() - post.size(), post.size(), post) == 0)
      names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  // Bounded: anyone can create files in /dev/shm, and the daemon reads them once a second.
  if (names.size() > kMaxRegions) {
    problems->push_back(fmt::format("{}: {} more tt_device_*_memory files not read (at most {})",
                                    dir, names.size() - kMaxRegions, kMaxRegions));
    names.resize(kMaxRegions);
  }
  for (const std::string& name : names) {
    Region r;
    std::string error;
    const std::string path = dir + "/" + name;
    if (ReadRegion(path, &r, &error))
      out.push_back(std::move(r));
    else
      problems->push_back(fmt::format("{}: {}", path, error));
  }
  return out;
}

namespace {

// Whether process `pid` (started at `started`) maps `path`; remembered per (pid, start, path),
// since the maps of a large process are long and a writer keeps its region mapped while it lives.
bool MapsRegion(pid_t pid, uint64_t started, const std::string& path, std::string* why) {
  static std::map<std::tuple<pid_t, uint64_t, std::string>, bool> known;
  const auto key = std::make_tuple(pid, started, path);
  if (auto it = known.find(key); it != known.end() && it->second) return true;
  char real[PATH_MAX];
  const std::string want = ::realpath(path.c_str(), real) != nullptr ? real : path;
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  if (!maps) {
    *why = "cannot read its /proc/PID/maps (another user's process; run as root to check)";
    return false;
  }
  bool found = false;
  for (std::string line; std::getline(maps, line);) {
    // "... /dev/shm/tt_device_N_memory", the last field. A mapping of a deleted file (" (deleted)"
    // after the path) is not this region: the file at the path now is another.
    const size_t at = line.find(want);
    if (at != std::string::npos && at > 0 && line[at - 1] == ' ' &&
        at + want.size() == line.size()) {
      found = true;
      break;
    }
  }
  if (!found) {
    *why = "the process at this pid does not map the region";
    return false;
  }
  if (known.size() > 4096) known.clear();
  known[key] = true;
  return true;
}

}  // namespace

void CheckLiveness(Region* r) {
  for (Process& p : r->processes) {
    if (::kill(p.pid, 0) != 0 && errno == ESRCH) {
      p.alive = false;
      p.stale_reason = "no such process";
      continue;
    }
    // Alive (or EPERM: alive, someone else's). Is it still the process that wrote the slot?
    const uint64_t started = StartNs(p.pid);
    std::string comm = ReadSmall(fmt::format("/proc/{}/comm", p.pid));
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    if ((started != 0 && p.last_update_ns != 0 && started > p.last_update_ns + 1000000000ull) ||
        (!comm.empty() && !p.name.empty() && comm != p.name.substr(0, 15))) {
      p.alive = false;
      p.stale_reason = "pid reused";
      continue;
    }
    // A verdict on a process rests only on what its own user controls: a region file another
    // user owns could have been made (or be rewritten) by them, whoever maps it.
    struct stat file {
    }, proc{};
    if (::stat(r->path.c_str(), &file) == 0 &&
        ::stat(fmt::format("/proc/{}", p.pid).c_str(), &proc) == 0 && file.st_uid != 0 &&
        file.st_uid != proc.st_uid) {
      p.verified = false;
      p.unverified_reason = fmt::format(
          "the statistics file belongs to uid {}, neither root nor the process's user (uid {})",
          file.st_uid, proc.st_uid);
      continue;
    }
    p.verified = MapsRegion(p.pid, started, r->path, &p.unverified_reason);
  }
}

std::vector<pid_t> DriverPids(const std::string& driver_dir, uint32_t device) {
  std::vector<pid_t> out;
  std::ifstream f(fmt::format("{}/{}/pids", driver_dir, device));
  for (long long v; f >> v;)
    if (v > 0 && v < (1ll << 31)) out.push_back(static_cast<pid_t>(v));
  return out;
}

DriverPidLists ReadDriverPidLists(const std::string& driver_dir) {
  DriverPidLists out;
  if (driver_dir.empty()) return out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(driver_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name.size() < 6 &&
        name.find_first_not_of("0123456789") == std::string::npos) {
      const auto id = static_cast<uint32_t>(std::stoul(name));
      out[id] = DriverPids(driver_dir, id);
    }
  }
  return out;
}

namespace {

// A mapped region's words, read and written atomically (other processes write it meanwhile).
struct RegionWords {
  char* b;
  std::atomic<uint64_t>* u64(size_t off) const {
    return reinterpret_cast<std::atomic<uint64_t>*>(b + off);
  }
  std::atomic<uint32_t>* u32(size_t off) const {
    return reinterpret_cast<std::atomic<uint32_t>*>(b + off);
  }
  std::atomic<int32_t>* i32(size_t off) const {
    return reinterpret_cast<std::atomic<int32_t>*>(b + off);
  }
};

template <typename T>
void SaturatingSub(std::atomic<T>* c, T v) {
  T cur = c->load(std::memory_order_relaxed);
  while (!c->compare_exchange_weak(cur, cur > v ? cur - v : 0)) {
  }
}

// tt-metal's own steps (v4's release_process_slot), for every layout: the slot is claimed for
// release with a compare-and-swap of the dead pid to -1 ("releasing": no writer can claim it
// meanwhile), each figure is taken out of the slot and subtracted from the totals (saturating),
// the slot cleared, pid 0 stored last, then reference_count and num_active_processes lowered
// (saturating) and the region's timestamp moved. False when another took the slot first.
bool ReleaseSlot(const RegionWords& w, size_t at, int32_t pid, Reclaimed* rec) {
  int32_t expect = pid;
  if (!w.i32(at)->compare_exchange_strong(expect, -1, std::memory_order_acq_rel)) return false;
  for (int t = 0; t < kNumFigures; ++t) {
    const uint64_t v = w.u64(at + 8 + 8 * static_cast<size_t>(t))->exchange(0);
    rec->used[t] = v;
    SaturatingSub(w.u64(kOffTotals + 8 * static_cast<size_t>(t)), v);
  }
  w.u64(at + 48)->store(0, std::memory_order_relaxed);
  std::memset(w.b + at + 56, 0, 64);
  w.i32(at)->store(0, std::memory_order_release);
  SaturatingSub(w.u32(16), 1u);                                    // reference_count
  SaturatingSub(w.u32(4), 1u);                                     // num_active_processes
  w.u64(8)->store(base::RealtimeNs(), std::memory_order_relaxed);  // ns since the epoch
  return true;
}

// When nobody is attached any more the aggregates are reset, as tt-metal's writers do
// (reset_aggregates_if_idle).
void ResetAggregates(const RegionWords& w) {
  for (int t = 0; t < kNumFigures; ++t)
    w.u64(kOffTotals + 8 * static_cast<size_t>(t))->store(0, std::memory_order_relaxed);
  for (int c = 0; c < kMaxChips; ++c) {
    const size_t at = kOffChips + kChipSize * static_cast<size_t>(c);
    if (w.u32(at)->load(std::memory_order_relaxed) == 0xFFFFFFFFu) continue;  // unused entry
    for (int t = 0; t < kNumFigures; ++t)
      w.u64(at + 8 + 8 * static_cast<size_t>(t))->store(0, std::memory_order_relaxed);
  }
}

}  // namespace

bool CleanupRegion(const std::string& path, bool dry_run, std::vector<Reclaimed>* out,
                   std::string* error) {
  Region r;
  if (!ReadRegion(path, &r, error)) return false;  // validated first: never write a foreign file
  int fd = ::open(path.c_str(), (dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *error = fmt::format("{} (cleanup writes to the region: run it as the region's owner)",
                         std::strerror(errno));
    return false;
  }
  const base::Mapping map =
      base::Mapping::Shared(fd, kV3MinSize, dry_run ? PROT_READ : PROT_READ | PROT_WRITE);
  ::close(fd);
  if (!map) {
    *error = std::strerror(errno);
    return false;
  }
  RegionWords w{map.bytes()};
  bool freed_any = false;
  for (const Process& p : r.processes) {
    if (::kill(p.pid, 0) == 0 || errno != ESRCH) continue;  // alive (EPERM too): not ours to free
    for (int i = 0; i < kMaxProcesses; ++i) {
      const size_t at = kOffProcesses + kProcessSize * static_cast<size_t>(i);
      if (w.i32(at)->load(std::memory_order_relaxed) != p.pid) continue;
      Reclaimed rec{p.pid, p.name, {}};
      if (dry_run) {
        rec.used = p.used;
      } else if (!ReleaseSlot(w, at, p.pid, &rec)) {
        continue;  // someone else took the slot meanwhile
      } else {
        freed_any = true;
      }
      out->push_back(std::move(rec));
      break;
    }
  }
  if (freed_any && w.u32(16)->load(std::memory_order_acquire) == 0) ResetAggregates(w);
  return true;
}

std::string EncodeRegion(uint32_t version, uint64_t asic_id, uint32_t device_id,
                         const std::vector<WriterProcess>& processes, uint32_t init_state) {
  std::string b(kRegionSize, '\0');
  Store<uint32_t>(&b, 0, version);
  uint32_t active = 0;
  std::array<uint64_t, kNumFigures> totals{};
  for (size_t i = 0; i < processes.size() && i < kMaxProcesses; ++i) {
    const WriterProcess& p = processes[i];
    const size_t at = kOffProcesses + kProcessSize * i;
    Store<int32_t>(&b, at, p.pid);
    for (int t = 0; t < kNumFigures; ++t) {
      Store<uint64_t>(&b, at + 8 + 8 * t, p.used[t]);
      if (p.pid > 0) totals[t] += p.used[t];
    }
    Store<uint64_t>(&b, at + 48, p.last_update_ns);
    std::memcpy(b.data() + at + 56, p.name.data(), std::min<size_t>(p.name.size(), 63));
    active += p.pid > 0;
  }
  Store<uint32_t>(&b, 4, active);
  Store<uint32_t>(&b, 16, active);  // reference_count
  Store<uint64_t>(&b, 32, asic_id);
  Store<uint32_t>(&b, 40, device_id);
  for (int t = 0; t < kNumFigures; ++t) Store<uint64_t>(&b, kOffTotals + 8 * t, totals[t]);
  for (int c = 0; c < kMaxChips; ++c) Store<uint32_t>(&b, kOffChips + kChipSize * c, 0xFFFFFFFFu);
  if (version == 4) Store<uint32_t>(&b, kOffInitState, init_state);
  return b;
}

}  // namespace ttmem::ttshm
