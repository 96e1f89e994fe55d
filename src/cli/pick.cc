// `ttmem pick [-n N] [--dram B] [--l1 B] [--l1-small B] [--trace B] [--need REC] [--exclusive]
// [--arch A] [--format env|list|json]` (issue 28): the PCIe devices whose chips can hold the need
// now, as TT_METAL_VISIBLE_DEVICES=2,3 for eval or export. Exit 0 picked, 1 nothing fits (each
// device's reason on stderr), 2 usage.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/text.h"
#include "cli/commands.h"
#include "cli/pick_decide.h"
#include "cli/query.h"
#include "cli/report.h"
#include "model/requests.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {
namespace {

using proto::MemType;

int Type(MemType t) {
  return static_cast<int>(t);
}

// --l1 900K (over the type's banks) or --l1 900K/bank; false once it has said what is wrong.
bool ParseNeed(const char* flag, const std::string& text, int type,
               std::vector<model::PickNeed>* needs) {
  if (text.empty()) return true;
  std::string number = text;
  const bool per_bank = number.size() > 5 && number.substr(number.size() - 5) == "/bank";
  if (per_bank) number.resize(number.size() - 5);
  const std::optional<uint64_t> bytes = base::ParseBytes(number);
  if (!bytes) {
    PrintError(fmt::format(
        "{} '{}' is not a size: give bytes over the type's banks like 900K, 64M, 1.5G, or per "
        "bank like 900K/bank",
        flag, text));
    return false;
  }
  model::PickNeed n;
  n.type = type;
  (per_bank ? n.per_bank : n.bytes) = *bytes;
  needs->erase(std::remove_if(needs->begin(), needs->end(),
                              [&](const model::PickNeed& x) { return x.type == type; }),
               needs->end());
  needs->push_back(n);
  return true;
}

// What a recording needed on its busiest device, per type: the advisor's per-bank peaks (L1 per
// core with its circular buffers, L1_SMALL, TRACE), DRAM's peak over its banks.
std::vector<model::PickNeed> NeedsOf(const report::Report& r) {
  std::array<model::PickNeed, proto::kNumMemTypes> most{};
  auto raise = [&](MemType t, std::optional<uint64_t> per_bank, uint64_t bytes) {
    model::PickNeed& n = most[static_cast<size_t>(t)];
    n.type = Type(t);
    if (per_bank && *per_bank != 0) n.per_bank = std::max(n.per_bank.value_or(0), *per_bank);
    if (!per_bank && bytes != 0) n.bytes = std::max(n.bytes.value_or(0), bytes);
  };
  for (const report::DeviceReport& d : r.devices)
    for (const report::TypeReport& t : d.types)
      if (t.type == proto::kMemTypeKeys[Type(MemType::kDram)])
        raise(MemType::kDram, std::nullopt, t.peak_bytes);
  for (const report::Advice& a : r.advice) {
    if (a.l1.bank_size_bytes) raise(MemType::kL1, a.l1.peak_per_core_bytes, 0);
    raise(MemType::kL1Small, a.l1_small.peak_per_bank_bytes, 0);
    raise(MemType::kTrace, a.trace.peak_per_bank_bytes, 0);
  }
  std::vector<model::PickNeed> out;
  for (const model::PickNeed& n : most)
    if (n.bytes || n.per_bank) out.push_back(n);
  return out;
}

// The options as the decision takes them; nullopt once it has said what is wrong.
std::optional<PickOptions> Prepare(const PickCommandOptions& o) {
  PickOptions p;
  p.n = o.n;
  p.exclusive = o.exclusive;
  if (!o.arch.empty()) p.arch = o.arch;
  if (!o.need.empty()) {
    report::Report r;
    std::string error;
    if (!LoadReport(o.need, 10, &r, &error)) {
      PrintError(fmt::format("--need: {}", error));
      return std::nullopt;
    }
    p.needs = NeedsOf(r);
    p.need_source = o.need;
  }
  if (!ParseNeed("--dram", o.dram, Type(MemType::kDram), &p.needs) ||
      !ParseNeed("--l1", o.l1, Type(MemType::kL1), &p.needs) ||
      !ParseNeed("--l1-small", o.l1_small, Type(MemType::kL1Small), &p.needs) ||
      !ParseNeed("--trace", o.trace, Type(MemType::kTrace), &p.needs))
    return std::nullopt;
  if (!o.need.empty() &&
      (!o.dram.empty() || !o.l1.empty() || !o.l1_small.empty() || !o.trace.empty()))
    p.need_source = o.need + " and options";
  std::sort(p.needs.begin(), p.needs.end(),
            [](const model::PickNeed& a, const model::PickNeed& b) { return a.type < b.type; });
  return p;
}

void Print(const model::PickDecision& d, const std::string& format) {
  const std::string ids = model::VisibleDevices(d);
  if (format == "json") {
    const std::string text = model::ToJsonText(d);
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else if (!d.picked.empty()) {
    std::printf("%s%s\n", format == "env" ? "TT_METAL_VISIBLE_DEVICES=" : "", ids.c_str());
  }
  for (const std::string& n : d.notes)
    std::fprintf(stderr, "ttmem pick: note: %s\n", base::TerminalSafe(n).c_str());
  if (!d.picked.empty()) return;
  std::fprintf(stderr, "ttmem pick: %s\n", base::TerminalSafe(d.error).c_str());
  for (const model::PickUnit& u : d.units)
    for (const std::string& r : u.reasons)
      std::fprintf(stderr, "  %s\n", base::TerminalSafe(r).c_str());
}

}  // namespace

int RunPick(const PickCommandOptions& o) {
  const std::optional<PickOptions> p = Prepare(o);
  if (!p) return kExitUsage;
  QueryClient q(o.socket);
  model::Status status;
  std::string error, payload;
  if (!RequestStatus(q, &status, &error)) {
    PrintError(error);
    return kExitUsage;
  }
  // Every device's largest free block per bank (one cell of map: only the figures are read).
  model::FragmentationReply frag;
  if (q.RequestRaw(model::Request("fragmentation").Int("cells", 1).Text(), &payload, &error))
    frag = model::ParseFragmentationReply(payload);
  const model::PickDecision d = DecidePick(status, frag, *p);
  Print(d, o.format);
  return d.picked.empty() ? kExitFailure : kExitOk;
}

}  // namespace ttmem::cli
