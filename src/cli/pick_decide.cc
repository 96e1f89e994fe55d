#include "cli/pick_decide.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/text.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {
namespace {

using model::PickChip;
using model::PickTypeFigures;
using model::PickUnit;

// "900 KiB", "612.5 KiB": one decimal where it says something.
std::string Bytes(uint64_t v) {
  std::string s = base::FormatBytes(v);
  if (const size_t at = s.find(".0 "); at != std::string::npos) s.erase(at, 2);
  return s;
}

std::string Label(int type) {
  return std::string(proto::kMemTypeLabels[static_cast<size_t>(type)]);
}

const model::FragmentationType* FragOf(const model::FragmentationReply& frag, uint32_t device,
                                       int type) {
  for (const model::FragmentationDevice& d : frag.devices)
    if (d.id == device)
      for (const model::FragmentationType& t : d.types)
        if (t.type == proto::kMemTypeKeys[static_cast<size_t>(type)]) return &t;
  return nullptr;
}

// A type's banks without a map of them: L1_SMALL and CB live in the L1 banks (one per core),
// TRACE in the DRAM banks.
std::optional<uint32_t> BanksOf(const model::Device& d, const model::FragmentationReply& frag,
                                int type) {
  if (const auto* g = FragOf(frag, d.id, type)) return g->bank_count;
  int home = 0;
  if (type == static_cast<int>(proto::MemType::kTrace))
    home = static_cast<int>(proto::MemType::kDram);
  else if (type == static_cast<int>(proto::MemType::kL1Small) ||
           type == static_cast<int>(proto::MemType::kCb))
    home = static_cast<int>(proto::MemType::kL1);
  else
    return std::nullopt;  // DRAM and L1 are their own banks: without a map, unknown
  if (const auto* g = FragOf(frag, d.id, home)) return g->bank_count;
  if (home == static_cast<int>(proto::MemType::kL1) && d.num_cores && *d.num_cores != 0 &&
      *d.num_cores <= UINT32_MAX)
    return static_cast<uint32_t>(*d.num_cores);
  return std::nullopt;
}

// One chip's figures for one type, and the need per bank there.
PickTypeFigures Figures(const model::Device& d, const model::FragmentationReply& frag,
                        const model::PickNeed& need) {
  PickTypeFigures f;
  f.type = need.type;
  const model::Figures& m = d.memory[static_cast<size_t>(need.type)];
  if (m.total_bytes) {
    f.capacity_bytes = *m.total_bytes;
    f.free_bytes = *m.total_bytes - std::min(*m.total_bytes, m.used_bytes.value_or(0));
  }
  if (const auto* g = FragOf(frag, d.id, need.type)) {
    f.bank_count = g->bank_count;
    f.bank_size = g->bank_size;
    f.largest_free_block = g->largest_free_block_bytes;
  } else if (auto banks = BanksOf(d, frag, need.type); banks && *banks != 0 && f.capacity_bytes) {
    f.bank_count = *banks;
    f.bank_size = *f.capacity_bytes / *banks;
  }
  if (need.per_bank)
    f.need_per_bank = *need.per_bank;
  else if (need.bytes && f.bank_count && *f.bank_count != 0)  // rounded up, without overflow
    f.need_per_bank = *need.bytes / *f.bank_count + (*need.bytes % *f.bank_count != 0 ? 1 : 0);
  return f;
}

// What one bank can still take: its largest free block, else (no map) its share of the free.
std::optional<uint64_t> Available(const PickTypeFigures& f) {
  if (f.largest_free_block) return f.largest_free_block;
  if (f.free_bytes && f.bank_count && *f.bank_count != 0) return *f.free_bytes / *f.bank_count;
  return std::nullopt;
}

// The process holding the most of a type on a chip, as " (pid 4242 holds 61 %)".
std::string TopHolder(const model::Device& d, int type, std::optional<uint64_t> capacity) {
  const model::DeviceProcess* top = nullptr;
  for (const model::DeviceProcess& p : d.processes)
    if (top == nullptr || p.memory[static_cast<size_t>(type)].used_bytes.value_or(0) >
                              top->memory[static_cast<size_t>(type)].used_bytes.value_or(0))
      top = &p;
  const uint64_t used =
      top != nullptr ? top->memory[static_cast<size_t>(type)].used_bytes.value_or(0) : 0;
  if (used == 0 || !capacity || *capacity == 0) return "";
  return fmt::format(" (pid {} holds {:.0f} %)", top->pid,
                     100.0 * static_cast<double>(used) / static_cast<double>(*capacity));
}

// Why one type does not fit on a chip, or "" when it does.
std::string Missing(const model::Device& d, const model::PickNeed& need, PickTypeFigures& f) {
  const std::string type = Label(need.type);
  if (!f.capacity_bytes) {
    f.fits = false;
    return type + " capacity unknown (no process announced it)";
  }
  const std::string holder = TopHolder(d, need.type, f.capacity_bytes);
  if (!f.need_per_bank) {  // bytes in all, and no bank count to share them out
    f.fits = need.bytes && f.free_bytes && *f.free_bytes >= *need.bytes;
    return f.fits ? ""
                  : fmt::format("{} needs {}, {} free{}", type, Bytes(need.bytes.value_or(0)),
                                Bytes(f.free_bytes.value_or(0)), holder);
  }
  const std::optional<uint64_t> avail = Available(f);
  f.fits = avail && *avail >= *f.need_per_bank;
  if (f.fits) return "";
  if (!avail)
    return fmt::format("{} needs {} per bank; its bank count is unknown (no map of its banks)",
                       type, Bytes(*f.need_per_bank));
  if (f.largest_free_block)
    return fmt::format("{} needs {} per bank, largest free block {}{}", type,
                       Bytes(*f.need_per_bank), Bytes(*f.largest_free_block), holder);
  return fmt::format("{} needs {} per bank, {} free per bank (no map of its banks){}", type,
                     Bytes(*f.need_per_bank), Bytes(avail.value_or(0)), holder);
}

std::string ChipName(const PickUnit& u, uint32_t chip) {
  if (!u.pcie_id_known || (u.chips.size() <= 1 && chip == u.pcie_id))
    return fmt::format("device {}", chip);
  return fmt::format("device {} (PCIe {})", chip, u.pcie_id);
}

bool ArchMatches(const std::string& arch, const std::string& want) {
  return arch == want || arch.rfind(want + "_", 0) == 0;
}

}  // namespace

namespace {

struct Built {
  PickUnit unit;
  std::set<pid_t> pids;
  std::vector<std::pair<uint32_t, std::string>> missing;  // chip, why
};

// One chip into its unit: its figures against every need, and its headroom.
void AddChip(const model::Device& d, const model::FragmentationReply& frag, const PickOptions& o,
             Built& b) {
  PickChip c;
  c.device = d.id;
  c.arch = base::TerminalSafe(d.arch.value_or(""));
  for (const model::DeviceProcess& p : d.processes) {
    c.processes.push_back(p.pid);
    b.pids.insert(p.pid);
  }
  if (d.open_without_report)
    for (pid_t p : *d.open_without_report) b.unit.open_without_report.push_back(p);
  if (d.open_by) c.open_by = *d.open_by;
  // Without a need, the headroom is that of DRAM and L1 as they are.
  std::vector<model::PickNeed> needs = o.needs;
  if (needs.empty())
    needs = {{static_cast<int>(proto::MemType::kDram), {}, {}},
             {static_cast<int>(proto::MemType::kL1), {}, {}}};
  std::optional<double> headroom;  // unknown: ranked last
  for (const model::PickNeed& need : needs) {
    PickTypeFigures f = Figures(d, frag, need);
    if (!o.needs.empty())
      if (std::string why = Missing(d, need, f); !why.empty()) b.missing.emplace_back(d.id, why);
    const std::optional<uint64_t> avail = Available(f);
    if (avail && f.bank_size && *f.bank_size != 0) {
      const double h =
          (static_cast<double>(*avail) - static_cast<double>(f.need_per_bank.value_or(0))) /
          static_cast<double>(*f.bank_size);
      headroom = std::min(headroom.value_or(h), h);
    }
    if (!o.needs.empty()) c.types.push_back(f);
  }
  if (!headroom) b.unit.headroom_known = false;  // ranked after every device whose is known
  const double h = headroom.value_or(-1);
  b.unit.headroom = b.unit.chips.empty() ? h : std::min(b.unit.headroom, h);
  b.unit.chips.push_back(std::move(c));
}

// The chips grouped by PCIe device (those without topology each on their own).
std::vector<Built> Group(const model::Status& s, const model::FragmentationReply& frag,
                         const PickOptions& o) {
  std::map<std::pair<int, uint32_t>, Built> by_key;
  for (const model::Device& d : s.devices) {
    if (d.source) continue;  // known only from tt-metal's statistics: no place, no capacity
    const bool known = d.pcie_id.has_value();
    Built& b = by_key[{known ? 0 : 1, known ? *d.pcie_id : d.id}];
    b.unit.pcie_id = known ? *d.pcie_id : d.id;
    b.unit.pcie_id_known = known;
    if (d.board_id) b.unit.board_id = d.board_id;
    if (d.board_type) b.unit.board_type = base::TerminalSafe(*d.board_type);
    AddChip(d, frag, o, b);
  }
  std::vector<Built> out;
  for (auto& [key, b] : by_key) out.push_back(std::move(b));
  return out;
}

// Who else holds the unit (the driver's list, processes on its chips), the exclusive and arch
// checks, and every reason as a line.
void Judge(const model::Status& s, const PickOptions& o, bool any_topology, Built& b) {
  PickUnit& u = b.unit;
  // A chip's own id stands for its PCIe device only where no chip says where it sits: beside
  // those that do, it could name another's PCIe device.
  if (!u.pcie_id_known && any_topology)
    u.reasons.push_back(
        fmt::format("{}: announced without its PCIe device (libttmem before "
                    "0.4), while other chips say theirs: not offered",
                    ChipName(u, u.chips.front().device)));
  if (s.open_without_report)
    for (const model::DriverOpen& d : *s.open_without_report)
      if (d.driver_device == u.pcie_id)
        u.open_without_report.insert(u.open_without_report.end(), d.pids.begin(), d.pids.end());
  std::set<pid_t> all = b.pids;
  for (const model::Process& p : s.processes)
    for (const PickChip& c : u.chips)
      if (std::find(p.devices.begin(), p.devices.end(), c.device) != p.devices.end())
        all.insert(p.pid);
  all.insert(u.open_without_report.begin(), u.open_without_report.end());
  pid_t opened = 0;  // a holder of the PCIe device in the driver's list, reporting or not
  for (const PickChip& c : u.chips)
    for (pid_t p : c.open_by) {
      all.insert(p);
      opened = opened != 0 ? opened : p;
    }
  u.processes = all.size();
  for (const auto& [chip, why] : b.missing) u.reasons.push_back(ChipName(u, chip) + ": " + why);
  if (o.arch)
    for (const PickChip& c : u.chips)
      if (!ArchMatches(c.arch, *o.arch))
        u.reasons.push_back(fmt::format("{}: arch {}, not {}", ChipName(u, c.device),
                                        c.arch.empty() ? "unknown" : c.arch, *o.arch));
  if (o.exclusive && !u.open_without_report.empty())
    u.reasons.push_back(
        fmt::format("{}: held open by pid {}, which reports nothing (the driver's "
                    "list)",
                    ChipName(u, u.chips.front().device), u.open_without_report.front()));
  else if (o.exclusive && opened != 0)
    u.reasons.push_back(fmt::format("{}: held open by pid {} (the driver's list)",
                                    ChipName(u, u.chips.front().device), opened));
  else if (o.exclusive && !all.empty())
    u.reasons.push_back(
        fmt::format("{}: in use by pid {}", ChipName(u, u.chips.front().device), *all.begin()));
  u.fits = u.reasons.empty() && !u.chips.empty();
}

// n of the units that fit, best first; a board's units together while whole boards are asked.
std::vector<PickUnit*> Select(std::vector<PickUnit>& units, uint32_t n) {
  std::vector<PickUnit*> fit;
  std::map<uint64_t, std::vector<PickUnit*>> boards;
  for (PickUnit& u : units) {
    if (u.fits) fit.push_back(&u);
    if (u.board_id) boards[*u.board_id].push_back(&u);
  }
  // Best first: none held by a process that reports nothing (its memory is unknown), known
  // headroom, the most of it, the fewest processes, the lowest id.
  auto better = [](const PickUnit* a, const PickUnit* b) {
    if (a->open_without_report.empty() != b->open_without_report.empty())
      return a->open_without_report.empty();
    if (a->headroom_known != b->headroom_known) return a->headroom_known;
    if (a->headroom != b->headroom) return a->headroom > b->headroom;
    if (a->processes != b->processes) return a->processes < b->processes;
    return a->pcie_id < b->pcie_id;
  };
  std::stable_sort(fit.begin(), fit.end(), better);
  // Whole boards of several PCIe devices first, each judged by its worst device.
  std::vector<std::vector<PickUnit*>> whole;
  for (auto& [id, board] : boards)
    if (board.size() > 1 &&
        std::all_of(board.begin(), board.end(), [](const PickUnit* x) { return x->fits; })) {
      std::stable_sort(board.begin(), board.end(), better);
      whole.push_back(board);
    }
  std::stable_sort(whole.begin(), whole.end(),
                   [&](const auto& a, const auto& b) { return better(a.back(), b.back()); });
  std::vector<PickUnit*> picked;
  for (const std::vector<PickUnit*>& board : whole) {
    if (board.size() > n - picked.size()) continue;
    for (PickUnit* x : board) x->picked = true;
    picked.insert(picked.end(), board.begin(), board.end());
  }
  for (PickUnit* u : fit)
    if (picked.size() < n && !u->picked) {
      u->picked = true;
      picked.push_back(u);
    }
  return picked;
}

// What the figures cannot show, said beside the decision.
void Notes(const model::Status& s, model::PickDecision* d) {
  size_t shm_only = 0;
  for (const model::Device& dev : s.devices) shm_only += dev.source ? 1 : 0;
  if (shm_only != 0)
    d->notes.push_back(fmt::format(
        "{} chip(s) known only from tt-metal's own statistics (no ttmem processor in that "
        "process): not offered, their PCIe device unknown",
        shm_only));
  if (s.counters && s.counters->device_info_conflicts != 0)
    d->notes.push_back(
        "ttmemd saw devices announced differently by different users: a process started with "
        "TT_METAL_VISIBLE_DEVICES numbers its chips from 0, so its figures may sit on another "
        "chip's number (ttmem status --json: counters.device_info_conflicts)");
}

}  // namespace

model::PickDecision DecidePick(const model::Status& status, const model::FragmentationReply& frag,
                               const PickOptions& o) {
  model::PickDecision d;
  d.n = o.n;
  d.exclusive = o.exclusive;
  d.arch = o.arch;
  d.need_source = o.need_source;
  d.needs = o.needs;
  std::vector<Built> built = Group(status, frag, o);
  const bool any_topology =
      std::any_of(built.begin(), built.end(), [](const Built& b) { return b.unit.pcie_id_known; });
  size_t fitting = 0;
  for (Built& b : built) {
    Judge(status, o, any_topology, b);
    fitting += b.unit.fits ? 1 : 0;
    d.units.push_back(std::move(b.unit));
  }
  Notes(status, &d);
  if (d.units.empty()) {
    d.error =
        "no devices known to ttmemd: a device shows once a process reporting to it has used it "
        "(ttmem status lists them)";
    return d;
  }
  if (fitting < o.n) {
    d.error = fmt::format(
        "{} PCIe device(s) asked, {} of {} fit now (the reasons below; ask for fewer with -n or "
        "for less, or see who holds what with ttmem status)",
        o.n, fitting, d.units.size());
    return d;
  }
  for (PickUnit* u : Select(d.units, o.n)) d.picked.push_back(u->pcie_id);
  std::sort(d.picked.begin(), d.picked.end());
  d.picked.erase(std::unique(d.picked.begin(), d.picked.end()), d.picked.end());
  return d;
}

}  // namespace ttmem::cli
