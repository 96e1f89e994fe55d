// pick.h — `ttmem pick`'s decision as plain values (issue 28): which PCIe devices were picked,
// and every device's figures against the need, with the reason each one was not. Written as
// `ttmem pick --format json` here only; the Python package reads that document.
#ifndef TTMEM_MODEL_PICK_H_
#define TTMEM_MODEL_PICK_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ttmem::model {

// What one type needs on each chip: per bank (from a recording's advisor, or given per bank), or
// in all (converted to per bank with the chip's bank count).
struct PickNeed {
  int type = 0;                      // ttmem_mem_type
  std::optional<uint64_t> bytes;     // over all the type's banks
  std::optional<uint64_t> per_bank;  // one bank's share
};

struct PickTypeFigures {
  int type = 0;
  std::optional<uint32_t> bank_count;
  std::optional<uint64_t> bank_size;
  std::optional<uint64_t> need_per_bank;
  std::optional<uint64_t> largest_free_block;  // per bank; nullopt: no map of the banks
  std::optional<uint64_t> free_bytes;          // capacity less used (all banks)
  std::optional<uint64_t> capacity_bytes;
  bool fits = true;
};

struct PickChip {
  uint32_t device = 0;
  std::string arch;
  std::vector<pid_t> processes;  // reporting processes holding memory on it
  std::vector<pid_t> open_by;    // the driver's list for its PCIe device: every holder
  std::vector<PickTypeFigures> types;
};

// A PCIe device (what TT_METAL_VISIBLE_DEVICES names) and the chips reached through it.
struct PickUnit {
  uint32_t pcie_id = 0;
  bool pcie_id_known = true;  // false: no topology announced, the chip's id stands in
  std::optional<uint64_t> board_id;
  std::string board_type;
  std::vector<PickChip> chips;
  std::vector<pid_t> open_without_report;  // the driver's list: holding it, reporting nothing
  size_t processes = 0;                    // distinct processes on its chips (any kind)
  double headroom = 0;         // the smallest (free block - need) / bank size over chips and types
  bool headroom_known = true;  // false: a chip's figures are unknown (ranked last; -1 above)
  bool fits = false;
  bool picked = false;
  std::vector<std::string> reasons;  // why it does not fit, one line each
};

struct PickDecision {
  uint32_t n = 1;
  bool exclusive = false;
  std::optional<std::string> arch;
  std::string need_source;  // "options", or the recording's path
  std::vector<PickNeed> needs;
  std::vector<PickUnit> units;     // by PCIe id
  std::vector<uint32_t> picked;    // PCIe ids, ascending
  std::string error;               // set when nothing was picked: the headline
  std::vector<std::string> notes;  // what the figures cannot show (stderr, "notes" in the JSON)
};

// The picked ids as TT_METAL_VISIBLE_DEVICES takes them: "2,3" ("" when none).
std::string VisibleDevices(const PickDecision& d);

// `ttmem pick --format json` (indented by 2, a final newline).
std::string ToJsonText(const PickDecision& d);

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_PICK_H_
