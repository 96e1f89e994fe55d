#include "daemon/snapshot.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/text.h"
#include "protocol/mem_types.h"

namespace ttmem::daemon {
namespace {

std::optional<std::string> OpOf(const ProcessMeta& meta, uint16_t op) {
  return op == 0 ? std::optional<std::string>() : std::optional<std::string>(meta.OpName(op));
}

// The process's buffers, by device, type and address (the listed ones), and its bytes by (op,
// device, type).
struct Held {
  std::vector<const ledger::LiveEntry*> buffers;
  std::map<std::tuple<uint16_t, uint32_t, int>, std::array<uint64_t, 2>> by_op;  // bytes, buffers
};

Held Collect(const std::vector<ledger::LiveEntry>& entries) {
  Held h;
  h.buffers.reserve(entries.size());
  for (const ledger::LiveEntry& e : entries) {
    h.buffers.push_back(&e);
    if (e.hooked != 0) continue;  // a capture estimate holds no memory
    auto& o = h.by_op[{e.op, e.device, static_cast<int>(e.type)}];
    o[0] += e.size;
    ++o[1];
  }
  auto key = [](const ledger::LiveEntry* e) {
    return std::make_tuple(e->device, static_cast<int>(e->type), e->address, e->id);
  };
  // Only the listed ones need their order.
  const size_t listed = std::min(h.buffers.size(), kMaxSnapshotBuffers);
  std::partial_sort(
      h.buffers.begin(), h.buffers.begin() + static_cast<ptrdiff_t>(listed), h.buffers.end(),
      [&](const ledger::LiveEntry* a, const ledger::LiveEntry* b) { return key(a) < key(b); });
  return h;
}

std::vector<model::SnapshotBuffer> Buffers(const Held& h, pid_t pid, const ProcessMeta& meta,
                                           uint32_t now_s) {
  std::vector<model::SnapshotBuffer> out;
  const size_t n = std::min(h.buffers.size(), kMaxSnapshotBuffers);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const ledger::LiveEntry& e = *h.buffers[i];
    out.push_back({pid, e.device, std::string(proto::MemTypeKey(e.type)), e.address,
                   uint64_t{e.size}, e.id, OpOf(meta, e.op), e.hooked != 0,
                   // Whole seconds; unknown when restored or re-sent by a resync.
                   e.born_s == 0 || e.born_s > now_s ? std::optional<uint64_t>()
                                                     : std::optional<uint64_t>(now_s - e.born_s)});
  }
  return out;
}

std::vector<model::SnapshotOp> ByOp(const Held& h, const ProcessMeta& meta) {
  std::vector<model::SnapshotOp> ops;
  for (const auto& [key, v] : h.by_op) {
    const auto& [op, dev, type] = key;
    ops.push_back({OpOf(meta, op), dev, std::string(proto::MemTypeKey(type)), v[0], v[1]});
  }
  std::stable_sort(
      ops.begin(), ops.end(),
      [](const model::SnapshotOp& a, const model::SnapshotOp& b) { return a.bytes > b.bytes; });
  return ops;
}

// Every process holding memory of `type` on `device`, largest first (at most
// kMaxSnapshotHolders), and how many there are.
std::vector<model::SnapshotHolder> Holders(const ledger::Ledger& ledger,
                                           const std::map<pid_t, ProcessMeta>& metas,
                                           uint32_t device, int type, uint64_t* count) {
  std::vector<std::pair<uint64_t, pid_t>> rows;
  for (const auto& [pid, p] : ledger.processes()) {
    auto u = p.usage.find(device);
    if (u == p.usage.end() || u->second[static_cast<size_t>(type)].bytes == 0) continue;
    rows.emplace_back(u->second[static_cast<size_t>(type)].bytes, pid);
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  *count = rows.size();
  std::vector<model::SnapshotHolder> out;
  for (size_t i = 0; i < rows.size() && i < kMaxSnapshotHolders; ++i) {
    auto m = metas.find(rows[i].second);
    out.push_back(
        {rows[i].second, m != metas.end() ? m->second.name : std::string(), rows[i].first});
  }
  return out;
}

// The device's fragmentation at one (device, type) of the snapshot, where its geometry is known.
void AddFragmentation(model::SnapshotType& t, int type,
                      const std::map<uint32_t, std::vector<TypeFragmentation>>& frag) {
  auto f = frag.find(t.device);
  if (f == frag.end()) return;
  for (const TypeFragmentation& tf : f->second) {
    if (tf.type != type) continue;
    t.bank_count = tf.bank_count;
    t.bank_base = tf.bank_base;
    t.bank_size = tf.bank_size;
    t.largest_free_block_bytes = tf.largest_free_block;  // per bank
    t.free_blocks = tf.free_blocks;
    for (const auto& [k, v] : tf.free_hist)
      t.free_block_histogram.push_back({uint64_t{1} << k, v[0], v[1]});
    t.map = tf.map;
  }
}

std::string Label(const std::string& key) {
  auto t = proto::MemTypeFromKey(key);
  return t ? std::string(proto::kMemTypeLabels[static_cast<size_t>(*t)]) : key;
}

std::string Pct(uint64_t part, uint64_t whole) {
  return whole == 0 ? "-"
                    : fmt::format("{:.0f} %",
                                  100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

// The memory type an error names, in tt-metal's wording: "allocate N B L1 buffer across",
// "circular buffers" (L1). "" when it names none.
std::string TypeOfReason(const std::string& reason) {
  // A plain scan, no regex: the reason is a client's text of up to 4 KiB.
  for (size_t at = reason.find("allocate "); at != std::string::npos;
       at = reason.find("allocate ", at + 1)) {
    size_t i = at + 9, digits = i;
    while (i < reason.size() && reason[i] >= '0' && reason[i] <= '9') ++i;
    if (i == digits || reason.compare(i, 3, " B ") != 0) continue;
    for (const char* t : {"L1_SMALL", "DRAM", "L1", "TRACE"}) {
      const std::string word = std::string(t) + " ";
      if (reason.compare(i + 3, word.size(), word) != 0) continue;
      std::string key = t;
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      return key;
    }
  }
  return reason.find("circular buffers") != std::string::npos ? "l1" : "";
}

std::string TypeLine(const model::Snapshot& s, const model::SnapshotType& t,
                     const std::vector<const model::SnapshotOp*>& ops) {
  const uint64_t mine = t.process_bytes, used = t.used_bytes;
  std::string line =
      fmt::format("{} on device {}: pid {} holds {} = {} of the {} in use", Label(t.type), t.device,
                  s.pid, base::FormatBytes(mine), Pct(mine, used), base::FormatBytes(used));
  if (t.capacity_bytes)
    line += fmt::format(" ({} of {})", Pct(used, *t.capacity_bytes),
                        base::FormatBytes(*t.capacity_bytes));
  for (size_t i = 0; i < ops.size() && i < 3; ++i)
    line += fmt::format("{}{} {} ({})", i == 0 ? ": " : ", ", ops[i]->op.value_or("(no op)"),
                        base::FormatBytes(ops[i]->bytes), Pct(ops[i]->bytes, mine));
  if (ops.size() > 3) line += fmt::format(", {} more op(s)", ops.size() - 3);
  std::string others;
  for (const model::SnapshotHolder& h : t.holders)
    if (h.pid != s.pid)
      others += fmt::format("{}pid {} ({}) {}", others.empty() ? "" : ", ", h.pid, h.name,
                            base::FormatBytes(h.bytes));
  if (!others.empty()) line += "; others: " + others;
  if (t.largest_free_block_bytes)
    line += fmt::format("; largest free block {} per bank",
                        base::FormatBytes(*t.largest_free_block_bytes));
  return base::TerminalSafe(line) + "\n";
}

}  // namespace

std::vector<uint32_t> SnapshotDevices(const ledger::Ledger& ledger, const SnapshotRequest& req) {
  std::vector<uint32_t> out;
  auto p = ledger.processes().find(req.pid);
  if (p == ledger.processes().end()) return out;
  for (const auto& [dev, usage] : p->second.usage) {
    if (req.device && dev != *req.device) continue;
    for (const ledger::Usage& u : usage)
      if (u.buffers != 0) {
        out.push_back(dev);
        break;
      }
  }
  return out;
}

SnapshotInput PrepareSnapshot(const ledger::Ledger& ledger, const SnapshotRequest& req,
                              const std::map<pid_t, ProcessMeta>& metas,
                              std::map<uint32_t, std::vector<TypeFragmentation>> frag,
                              std::map<uint32_t, DeviceSpans> spans, uint64_t now_unix_ms) {
  SnapshotInput in;
  in.req = req;
  in.now_unix_ms = now_unix_ms;
  in.now_s = ledger.now_seconds();
  if (auto m = metas.find(req.pid); m != metas.end()) in.meta = m->second;
  auto p = ledger.processes().find(req.pid);
  if (p == ledger.processes().end()) return in;
  in.found = true;
  in.entries.reserve(req.device ? 0 : p->second.live.size());
  for (const ledger::LiveEntry& e : p->second.live)
    if (!req.device || e.device == *req.device) in.entries.push_back(e);
  // The (device, type)s it holds: those with a buffer of device memory (as its usage counts them).
  for (const auto& [dev, usage] : p->second.usage) {
    if (req.device && dev != *req.device) continue;
    auto d = ledger.devices().find(dev);
    for (int t = 0; t < proto::kNumMemTypes; ++t) {
      if (usage[static_cast<size_t>(t)].buffers == 0) continue;
      SnapshotInput::Type ty;
      ty.device = dev;
      ty.type = t;
      if (d != ledger.devices().end()) {
        ty.used_bytes = d->second.usage[static_cast<size_t>(t)].bytes;
        if (d->second.info) ty.capacity_bytes = d->second.info->capacity_bytes[t];
      }
      ty.holders = Holders(ledger, metas, dev, t, &ty.holder_count);
      in.types.push_back(std::move(ty));
    }
  }
  in.frag = std::move(frag);
  in.spans = std::move(spans);
  return in;
}

model::Snapshot MakeSnapshot(SnapshotInput& in) {
  model::Snapshot out;
  out.pid = in.req.pid;
  out.name = in.meta.name;
  out.time_unix_ms = in.now_unix_ms;
  if (!in.req.reason.empty()) out.reason = in.req.reason;
  if (!in.found) {
    out.error = "no such process reports to this ttmemd";
    return out;
  }
  // The devices whose fragmentation was not fresh: this process's buffers join the others'.
  if (!in.spans.empty())
    for (const ledger::LiveEntry& e : in.entries)  // one pass, however many devices
      if (auto d = in.spans.find(e.device); d != in.spans.end()) d->second.Add(e);
  for (auto& [dev, d] : in.spans) in.frag[dev] = Summarize(d, kSnapshotMapCells);
  in.spans.clear();
  std::map<std::pair<uint32_t, int>, std::array<uint64_t, 2>> mine;  // bytes, buffers
  for (const ledger::LiveEntry& e : in.entries) {
    if (e.hooked != 0) continue;
    auto& m = mine[{e.device, static_cast<int>(e.type)}];
    m[0] += e.size;
    ++m[1];
  }
  for (const SnapshotInput::Type& t : in.types) {
    model::SnapshotType& x = out.types.emplace_back();
    x.device = t.device;
    x.type = std::string(proto::MemTypeKey(t.type));
    x.process_bytes = mine[{t.device, t.type}][0];
    x.process_buffers = mine[{t.device, t.type}][1];
    x.used_bytes = t.used_bytes;
    if (t.capacity_bytes != 0) x.capacity_bytes = t.capacity_bytes;
    x.holders = t.holders;
    x.holder_count = t.holder_count;
    AddFragmentation(x, t.type, in.frag);
  }
  out.live_buffers = in.entries.size();
  out.truncated = in.entries.size() > kMaxSnapshotBuffers;
  const Held h = Collect(in.entries);
  out.by_op = ByOp(h, in.meta);
  out.buffers = Buffers(h, in.req.pid, in.meta, in.now_s);
  out.summary = SnapshotSummary(out);
  return out;
}

std::string BuildSnapshot(SnapshotInput& in, bool text) {
  const model::Snapshot s = MakeSnapshot(in);
  return text && !s.error ? s.summary : model::ToJsonText(s);
}

std::string SnapshotSummary(const model::Snapshot& s) {
  std::string out = fmt::format("Snapshot of pid {} ({}): {} live buffer(s){}\n", s.pid,
                                base::TerminalSafe(s.name), s.live_buffers,
                                s.truncated ? " (list truncated)" : "");
  const std::string reason = s.reason.value_or("");
  if (!reason.empty()) out += "Reason: " + base::TerminalSafe(reason) + "\n";
  // Ops per (device, type), largest first (by_op is sorted by bytes).
  std::map<std::pair<uint32_t, std::string>, std::vector<const model::SnapshotOp*>> ops;
  for (const model::SnapshotOp& o : s.by_op) ops[{o.device, o.type}].push_back(&o);
  // The type the reason names first.
  const std::string failing = TypeOfReason(reason);
  std::string first, rest;
  for (const model::SnapshotType& t : s.types)
    (t.type == failing ? first : rest) += TypeLine(s, t, ops[{t.device, t.type}]);
  return out + first + rest;
}

}  // namespace ttmem::daemon
