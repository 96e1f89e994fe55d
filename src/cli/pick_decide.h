// pick_decide.h — which PCIe devices `ttmem pick` takes (issue 28), as a pure function of the
// status, the fragmentation reply and the options: unit-tested over plain values
// (pick_decide_test.cc), run by pick.cc on the daemon's answers.
#ifndef TTMEM_CLI_PICK_DECIDE_H_
#define TTMEM_CLI_PICK_DECIDE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/pick.h"
#include "model/replies.h"
#include "model/status.h"

namespace ttmem::cli {

struct PickOptions {
  uint32_t n = 1;
  std::vector<model::PickNeed> needs;  // one per type asked for
  std::string need_source = "options";
  bool exclusive = false;
  std::optional<std::string> arch;
};

// Groups the chips by PCIe device (a chip without topology stands for one of its own id), checks
// each against the need per bank (the largest free block of its banks; without a map of them,
// the free space per bank), then picks n of those that fit: the most headroom first, then the
// fewest processes, then the lowest id; a board's devices together where whole boards are asked.
model::PickDecision DecidePick(const model::Status& status, const model::FragmentationReply& frag,
                               const PickOptions& o);

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_PICK_DECIDE_H_
