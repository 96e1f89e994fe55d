#include "cli/top_state.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/text.h"
#include "cli/format.h"
#include "model/from_tt_shm.h"

namespace ttmem::cli::top {

// A type's capacity, when known (announced and non-zero).
std::optional<uint64_t> Total(const model::Figures& f) {
  if (f.total_bytes.value_or(0) != 0) return f.total_bytes;
  return std::nullopt;
}
uint64_t Used(const model::Figures& f) {
  return f.used_bytes.value_or(0);
}
double Percent(uint64_t used, std::optional<uint64_t> total) {
  return total ? 100.0 * static_cast<double>(used) / static_cast<double>(*total) : 0.0;
}

bool DeviceShown(const State& st, uint32_t id) {
  return st.opt.devices.empty() ||
         std::find(st.opt.devices.begin(), st.opt.devices.end(), id) != st.opt.devices.end();
}

namespace {

ProcRow RowOf(const model::Process& p) {
  ProcRow r;
  r.pid = p.pid;
  r.user = base::TerminalSafe(p.user);
  r.name = base::TerminalSafe(p.name);
  r.from_file = p.source == model::kShmSource;
  if (p.unverified) r.name += " (unverified)";
  // Containers (issue 18): its pid in its own namespace and its container, after the name.
  if (p.ns_pid) r.name += fmt::format(" (ns pid {})", *p.ns_pid);
  if (p.container) r.name += " [" + base::TerminalSafe(p.container->substr(0, 12)) + "]";
  r.uid_known = p.uid.has_value();
  r.uid = p.uid.value_or(0);
  r.devices = FormatDeviceList(p.devices);
  r.dram = Used(model::Of(p.memory, proto::MemType::kDram));
  r.l1 = Used(model::Of(p.memory, proto::MemType::kL1));
  r.cb = Used(model::Of(p.memory, proto::MemType::kCb));
  r.trace = Used(model::Of(p.memory, proto::MemType::kTrace));
  r.total = model::UsedTotal(p.memory);
  return r;
}

// The filter: user:NAME, pid:N, dev:N, or text found in the command, user or pid.
bool Matches(const std::string& f, const ProcRow& r, const model::Process& p) {
  if (f.rfind("user:", 0) == 0) return r.user == f.substr(5);
  if (f.rfind("pid:", 0) == 0) return std::to_string(r.pid) == f.substr(4);
  if (f.rfind("dev:", 0) == 0) {
    for (uint32_t d : p.devices)
      if (std::to_string(d) == f.substr(4)) return true;
    return false;
  }
  return f.empty() || r.name.find(f) != std::string::npos || r.user.find(f) != std::string::npos ||
         std::to_string(r.pid).find(f) != std::string::npos ||
         p.cmdline.find(f) != std::string::npos;
}

// Numbers largest first, names and PIDs ascending; `r` reverses.
void SortRows(const State& st, std::vector<ProcRow>& rows) {
  auto key = [&](const ProcRow& r) -> uint64_t {
    switch (st.sort) {
      case kByPid:
        return static_cast<uint64_t>(r.pid);
      case kByDram:
        return r.dram;
      case kByL1:
        return r.l1;
      case kByCb:
        return r.cb;
      case kByTrace:
        return r.trace;
      default:
        return r.total;
    }
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const ProcRow& a, const ProcRow& b) {
    bool less = st.sort == kByUser ? a.user < b.user : key(a) < key(b);
    bool greater = st.sort == kByUser ? b.user < a.user : key(b) < key(a);
    bool ascending = st.sort == kByUser || st.sort == kByPid;
    return (ascending != st.reverse) ? less : greater;
  });
}

}  // namespace

// Process rows after the filter, sorted.
std::vector<ProcRow> Rows(const State& st) {
  std::vector<ProcRow> rows;
  if (!st.have) return rows;
  for (const model::Process& p : st.status.processes) {
    // -d: only processes on a shown device (or on none yet).
    bool on_shown = p.devices.empty();
    for (uint32_t d : p.devices) on_shown = on_shown || DeviceShown(st, d);
    if (!on_shown) continue;
    ProcRow r = RowOf(p);
    if (Matches(st.filter, r, p)) rows.push_back(std::move(r));
  }
  SortRows(st, rows);
  return rows;
}

bool Sample(State& st, uint64_t now_ms) {
  if (now_ms < st.last_sample_ms + 1000) return false;
  st.last_sample_ms = now_ms;
  double dram = 0, l1 = 0;
  for (const model::Device& d : st.status.devices) {
    dram += static_cast<double>(Used(d.memory[0]));
    l1 += static_cast<double>(Used(d.memory[1]));
  }
  st.history[now_ms] = {dram, l1};
  while (st.history.size() > 3600) st.history.erase(st.history.begin());
  return true;
}

void AddHistory(State& st, const model::HistoryReply& h) {
  for (const auto& [id, samples] : h.devices) {
    if (!DeviceShown(st, id)) continue;
    for (const model::HistorySample& s : samples) {
      auto& e = st.history[s.unix_ms];
      e.first += static_cast<double>(s.used[0]);   // DRAM
      e.second += static_cast<double>(s.used[1]);  // L1
    }
  }
}

void TakeReply(State& st, ReplyKind kind, int64_t subject, const std::string& text) {
  switch (kind) {
    case ReplyKind::kHistory:
      AddHistory(st, model::ParseHistoryReply(text));
      break;
    case ReplyKind::kBuffers:
      if (subject == st.detail_pid) st.detail_buffers = model::ParseBuffersReply(text);
      break;
    case ReplyKind::kProcessHistory:
      if (subject == st.detail_pid) st.detail_history = model::ParseHistoryReply(text);
      break;
    case ReplyKind::kFragmentation:
      if (subject == st.frag_device) st.fragmentation = model::ParseFragmentationReply(text);
      break;
  }
}

void MoveSelection(State& st, Move m, size_t rows, size_t page) {
  switch (m) {
    case Move::kUp:
      st.selected = st.selected > 0 ? st.selected - 1 : 0;
      break;
    case Move::kDown:
      ++st.selected;
      break;
    case Move::kPageUp:
      st.selected = st.selected > page ? st.selected - page : 0;
      break;
    case Move::kPageDown:
      st.selected += page;
      break;
    case Move::kHome:
      st.selected = 0;
      break;
    case Move::kEnd:
      st.selected = rows == 0 ? 0 : rows - 1;
      break;
  }
}

KeyAction ApplyKey(State& st, int key, const std::vector<ProcRow>& rows) {
  constexpr int kSigTerm = 15, kSigKill = 9;
  if (key == 'q' || key == 'Q') return {KeyAction::kQuit};
  if (key == kKeyNone) return {};
  if (st.view == View::kHelp) {  // any key: back
    st.view = View::kMain;
    return {};
  }
  if (key == 'h' || key == '?') {
    st.view = View::kHelp;
    return {};
  }
  if (st.view == View::kFragmentation) {
    if (key == kKeyEscape) {
      st.view = View::kMain;
    } else if (key == '\t' || key == 'n') {
      ++st.frag_index;
      return {KeyAction::kLoadFragmentation};
    }
    return {};
  }
  if (st.view == View::kDetail) {
    if (key == kKeyEscape) st.view = View::kMain;
    if (key == 'k' || key == 'K')
      return {KeyAction::kSignal, st.detail_pid, key == 'K' ? kSigKill : kSigTerm};
    return {};
  }
  switch (key) {
    case 's':
      st.sort = static_cast<Sort>((st.sort + 1) % kSortCount);
      break;
    case 'r':
      st.reverse = !st.reverse;
      break;
    case 'c':
      st.filter.clear();
      break;
    case 'f':
      st.view = View::kFragmentation;
      return {KeyAction::kLoadFragmentation};
    case '/':
      st.selected = st.scroll = 0;
      return {KeyAction::kPromptFilter};
    case kKeyEnter:
    case kKeyRight:
      if (st.selected < rows.size()) return {KeyAction::kOpenDetail, rows[st.selected].pid};
      break;
    case 'k':
    case 'K':
      if (st.selected < rows.size())
        return {KeyAction::kSignal, rows[st.selected].pid, key == 'K' ? kSigKill : kSigTerm};
      break;
    case kKeyEscape:
      st.message.clear();
      break;
    default:
      break;
  }
  return {};
}

}  // namespace ttmem::cli::top
