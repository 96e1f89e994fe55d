// tt_shm.h — tt-metal's own shared-memory statistics (/dev/shm/tt_device_<id>_memory, layout
// versions 3 and 4; ../docs/tt-metal.md and the facts in TT_METAL_FACTS.md): per-chip and
// per-process totals that stock tt-metal publishes. Read-only: a region is copied with pread and
// parsed from the copy; writers update it without locks, so a snapshot may be torn between
// fields, and nothing here trusts one field to bound another.
#ifndef TTMEM_TTSHM_TT_SHM_H_
#define TTMEM_TTSHM_TT_SHM_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/mem_types.h"

namespace ttmem::ttshm {

// The region's layout (DeviceMemoryRegion, 64-byte aligned, little-endian x86-64).
inline constexpr size_t kRegionSize = 8576;
inline constexpr size_t kV3MinSize = 8536;      // v3 ends before init_state
inline constexpr uint32_t kReady = 0x52454459;  // v4 init_state: "READY"
// Figures per chip and per process: DRAM, L1, L1_SMALL, TRACE, CB (proto::kShmFigureTypes).
inline constexpr int kNumFigures = proto::kNumShmFigures;
// The JSON key of figure `t` ("dram", …, "cb").
inline std::string_view FigureKey(int t) {
  return proto::kMemTypeKeys[static_cast<size_t>(proto::kShmFigureTypes[static_cast<size_t>(t)])];
}
inline constexpr int kMaxChips = 16;
inline constexpr int kMaxProcesses = 64;
inline constexpr size_t kOffTotals = 48, kOffChips = 88, kChipSize = 48, kOffProcesses = 856,
                        kProcessSize = 120, kOffInitState = 8536;

struct Process {
  pid_t pid = 0;
  std::array<uint64_t, kNumFigures> used{};
  uint64_t last_update_ns = 0;
  std::string name;
  // Liveness, checked by the reader: false when the pid is gone, or was reused by a process that
  // started after this slot's last update.
  bool alive = true;
  std::string stale_reason;  // why it is stale ("no such process", "pid reused")
  // Tied to a real process: the live process at `pid` has this region mapped (its
  // /proc/PID/maps names the file). Anyone who can write the region can write any pid into a
  // slot; an untied row is shown marked and is never offered for signalling.
  bool verified = false;
  std::string unverified_reason;  // why not ("does not map the region", "cannot read its maps")
};

struct Region {
  std::string path;
  uint32_t version = 0;
  uint32_t num_active_processes = 0;
  uint32_t reference_count = 0;  // attached processes, as the writers count them
  uint64_t last_update_ns = 0;
  uint64_t asic_id = 0;  // the region's asic_id field (some versions keep only its low byte)
  // The chip's id: the decimal number in the file name (tt_device_<id>_memory), which every
  // version writes in full; the asic_id field when the name has none.
  uint64_t chip_id = 0;
  uint32_t device_id = 0;
  std::array<uint64_t, kNumFigures> totals{};
  std::vector<Process> processes;  // occupied slots (pid > 0)
};

// Reads and validates one region. False with *error ("version 2 is not a layout this reader
// knows", "truncated: 100 bytes", "still initialising") when it cannot be used.
[[nodiscard]] bool ReadRegion(const std::string& path, Region* out, std::string* error);

// The regions in `dir` (tt_device_*_memory), read and checked; what could not be used goes to
// *problems as "path: reason". At most kMaxRegions files are read (in name order; a problem says
// how many were left): a host has at most a few hundred chips, and anyone can create files there.
inline constexpr size_t kMaxRegions = 1024;
std::vector<Region> Discover(const std::string& dir, std::vector<std::string>* problems);

// Fills each process's `alive` from the kernel (kill(pid, 0), /proc/PID/stat start time).
void CheckLiveness(Region* r);

// Pids that hold Tenstorrent device N open, from DRIVER_DIR/N/pids (normally
// /proc/driver/tenstorrent; empty when the driver or the file is absent).
std::vector<pid_t> DriverPids(const std::string& driver_dir, uint32_t device);
// Every driver device's list (DRIVER_DIR/N/pids for each N there), by device number; empty when
// the directory is absent.
using DriverPidLists = std::map<uint32_t, std::vector<pid_t>>;
DriverPidLists ReadDriverPidLists(const std::string& driver_dir);

// `ttmem cleanup --shm`: frees the slots of processes that no longer exist (kill(pid, 0) says
// ESRCH) with tt-metal's own reaper steps (v4 release_process_slot), in every layout (2, 3, 4):
// the dead pid is claimed with a compare-and-swap to -1 ("releasing"), its figures are taken out
// and subtracted from the totals (saturating at 0), the slot is cleared and pid 0 stored last,
// then reference_count and num_active_processes are lowered (saturating) and the region's
// timestamp moved; when reference_count reaches 0 the totals and the per-chip figures are reset
// (reset_aggregates_if_idle). Live processes — also reused pids, which belong to someone alive —
// are never touched. With `dry_run`, only reports.
struct Reclaimed {
  pid_t pid;
  std::string name;
  std::array<uint64_t, kNumFigures> used;
};
[[nodiscard]] bool CleanupRegion(const std::string& path, bool dry_run, std::vector<Reclaimed>* out,
                                 std::string* error);

// A writer of ours, for tests and the simulator: the bytes of a region as tt-metal lays it out.
struct WriterProcess {
  int32_t pid;  // 0 free, -1 releasing (v4)
  std::array<uint64_t, kNumFigures> used;
  uint64_t last_update_ns;
  std::string name;
};
std::string EncodeRegion(uint32_t version, uint64_t asic_id, uint32_t device_id,
                         const std::vector<WriterProcess>& processes, uint32_t init_state);

}  // namespace ttmem::ttshm

#endif  // TTMEM_TTSHM_TT_SHM_H_
