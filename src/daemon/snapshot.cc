#include "daemon/snapshot.h"

#include <algorithm>
#include <array>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/text.h"
#include "protocol/mem_types.h"

namespace ttmem::daemon {
namespace {

using nlohmann::json;

json OpJson(const ProcessMeta& meta, uint16_t op) {
  return op == 0 ? json() : json(meta.OpName(op));
}

std::string TypeKey(int type) {
  return std::string(proto::kMemTypeKeys[type]);
}

// The process's buffers, by device, type and address (capped), and its bytes by (device, type)
// and by (op, device, type).
struct Held {
  std::vector<const ledger::LiveEntry*> buffers;
  std::map<std::pair<uint32_t, int>, std::array<uint64_t, 2>> by_type;  // bytes, buffers
  std::map<std::tuple<uint16_t, uint32_t, int>, std::array<uint64_t, 2>> by_op;
};

Held Collect(const ledger::Process& p, std::optional<uint32_t> device) {
  Held h;
  for (const ledger::LiveEntry& e : p.live) {
    if (device && e.device != *device) continue;
    h.buffers.push_back(&e);
    if (e.hooked != 0) continue;  // a capture estimate holds no memory
    const int type = static_cast<int>(e.type);
    auto& t = h.by_type[{e.device, type}];
    t[0] += e.size;
    ++t[1];
    auto& o = h.by_op[{e.op, e.device, type}];
    o[0] += e.size;
    ++o[1];
  }
  auto key = [](const ledger::LiveEntry* e) {
    return std::make_tuple(e->device, static_cast<int>(e->type), e->address, e->id);
  };
  std::sort(
      h.buffers.begin(), h.buffers.end(),
      [&](const ledger::LiveEntry* a, const ledger::LiveEntry* b) { return key(a) < key(b); });
  return h;
}

json BuffersJson(const Held& h, pid_t pid, const ProcessMeta& meta, uint32_t now_s) {
  json buffers = json::array();
  for (size_t i = 0; i < h.buffers.size() && i < kMaxSnapshotBuffers; ++i) {
    const ledger::LiveEntry& e = *h.buffers[i];
    buffers.push_back(
        {{"pid", pid},
         {"device", e.device},
         {"type", TypeKey(e.type)},
         {"address", e.address},
         {"size", uint64_t{e.size}},
         {"op", OpJson(meta, e.op)},
         {"id", e.id},
         {"capture", e.hooked != 0},
         // Whole seconds; null when unknown (restored or re-sent by a resync).
         {"age_s", e.born_s == 0 || e.born_s > now_s ? json() : json(now_s - e.born_s)}});
  }
  return buffers;
}

json ByOpJson(const Held& h, const ProcessMeta& meta) {
  std::vector<std::pair<uint64_t, json>> ops;
  for (const auto& [key, v] : h.by_op) {
    const auto& [op, dev, type] = key;
    ops.emplace_back(v[0], json{{"op", OpJson(meta, op)},
                                {"device", dev},
                                {"type", TypeKey(type)},
                                {"bytes", v[0]},
                                {"buffers", v[1]}});
  }
  std::stable_sort(ops.begin(), ops.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  json by_op = json::array();
  for (auto& [bytes, o] : ops) by_op.push_back(std::move(o));
  return by_op;
}

// Every process holding memory of `type` on `device`, largest first (at most
// kMaxSnapshotHolders), and how many there are.
json HoldersJson(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& metas,
                 uint32_t device, int type, size_t* count) {
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
  json out = json::array();
  for (size_t i = 0; i < rows.size() && i < kMaxSnapshotHolders; ++i) {
    auto m = metas.find(rows[i].second);
    out.push_back({{"pid", rows[i].second},
                   {"name", m != metas.end() ? m->second.name : std::string()},
                   {"bytes", rows[i].first}});
  }
  return out;
}

json TypeJson(const ledger::Ledger& ledger, const std::map<pid_t, ProcessMeta>& metas,
              const std::map<uint32_t, std::vector<TypeFragmentation>>& frag, uint32_t dev,
              int type, const std::array<uint64_t, 2>& mine) {
  auto d = ledger.devices().find(dev);
  size_t holders = 0;
  json t = {{"device", dev},
            {"type", TypeKey(type)},
            {"process_bytes", mine[0]},
            {"process_buffers", mine[1]},
            {"used_bytes", d != ledger.devices().end() ? d->second.usage[type].bytes : 0},
            {"capacity_bytes", nullptr},
            {"holders", HoldersJson(ledger, metas, dev, type, &holders)},
            {"largest_free_block_bytes", nullptr},
            {"free_blocks", nullptr}};
  t["holder_count"] = holders;
  if (d != ledger.devices().end() && d->second.info && d->second.info->capacity_bytes[type] != 0)
    t["capacity_bytes"] = d->second.info->capacity_bytes[type];
  auto f = frag.find(dev);
  if (f == frag.end()) return t;
  for (const TypeFragmentation& tf : f->second) {
    if (tf.type != type) continue;
    t["bank_count"] = tf.bank_count;
    t["bank_base"] = tf.bank_base;
    t["bank_size"] = tf.bank_size;
    t["largest_free_block_bytes"] = tf.largest_free_block;  // per bank
    t["free_blocks"] = tf.free_blocks;
    json hist = json::array();
    for (const auto& [k, v] : tf.free_hist)
      hist.push_back({{"min_bytes", uint64_t{1} << k}, {"blocks", v[0]}, {"bytes", v[1]}});
    t["free_block_histogram"] = std::move(hist);
    t["map"] = tf.map;
  }
  return t;
}

// A member array by reference (an empty one when absent).
const json& ArrayOf(const json& j, const char* key) {
  static const json kEmpty = json::array();
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

uint64_t U64(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
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

std::string TypeLine(const json& s, const json& t, const std::vector<const json*>& ops) {
  const uint64_t dev = U64(t, "device"), mine = U64(t, "process_bytes"),
                 used = U64(t, "used_bytes");
  const int64_t pid = s.value("pid", 0);
  std::string line = fmt::format("{} on device {}: pid {} holds {} = {} of the {} in use",
                                 Label(t.value("type", std::string())), dev, pid,
                                 base::FormatBytes(mine), Pct(mine, used), base::FormatBytes(used));
  if (t["capacity_bytes"].is_number())
    line += fmt::format(" ({} of {})", Pct(used, U64(t, "capacity_bytes")),
                        base::FormatBytes(U64(t, "capacity_bytes")));
  for (size_t i = 0; i < ops.size() && i < 3; ++i) {
    const json& o = *ops[i];
    line += fmt::format("{}{} {} ({})", i == 0 ? ": " : ", ",
                        o["op"].is_string() ? o["op"].get<std::string>() : "(no op)",
                        base::FormatBytes(U64(o, "bytes")), Pct(U64(o, "bytes"), mine));
  }
  if (ops.size() > 3) line += fmt::format(", {} more op(s)", ops.size() - 3);
  std::string others;
  for (const json& h : ArrayOf(t, "holders"))
    if (h.value("pid", 0) != pid)
      others += fmt::format("{}pid {} ({}) {}", others.empty() ? "" : ", ", h.value("pid", 0),
                            h.value("name", std::string("?")), base::FormatBytes(U64(h, "bytes")));
  if (!others.empty()) line += "; others: " + others;
  if (t["largest_free_block_bytes"].is_number())
    line += fmt::format("; largest free block {} per bank",
                        base::FormatBytes(U64(t, "largest_free_block_bytes")));
  return base::TerminalSafe(line) + "\n";
}

}  // namespace

json BuildSnapshot(const ledger::Ledger& ledger, const SnapshotRequest& req,
                   const std::map<pid_t, ProcessMeta>& metas,
                   const std::map<uint32_t, std::vector<TypeFragmentation>>& frag,
                   uint64_t now_unix_ms) {
  static const ProcessMeta kNoMeta{};
  auto m = metas.find(req.pid);
  const ProcessMeta& meta = m != metas.end() ? m->second : kNoMeta;
  json out = {{"pid", req.pid}, {"name", meta.name}, {"time_unix_ms", now_unix_ms}};
  if (!req.reason.empty()) out["reason"] = req.reason;
  auto p = ledger.processes().find(req.pid);
  if (p == ledger.processes().end()) {
    out["error"] = "no such process reports to this ttmemd";
    return out;
  }
  Held h = Collect(p->second, req.device);
  json types = json::array();
  for (const auto& [key, v] : h.by_type)
    types.push_back(TypeJson(ledger, metas, frag, key.first, key.second, v));
  out["live_buffers"] = h.buffers.size();
  out["truncated"] = h.buffers.size() > kMaxSnapshotBuffers;
  out["buffers"] = BuffersJson(h, req.pid, meta, ledger.now_seconds());
  out["by_op"] = ByOpJson(h, meta);
  out["types"] = std::move(types);
  out["summary"] = SnapshotSummary(out);
  return out;
}

std::string SnapshotSummary(const json& s) {
  std::string out =
      fmt::format("Snapshot of pid {} ({}): {} live buffer(s){}\n", s.value("pid", 0),
                  base::TerminalSafe(s.value("name", std::string("?"))), U64(s, "live_buffers"),
                  s.value("truncated", false) ? " (list truncated)" : "");
  const std::string reason = s.value("reason", std::string());
  if (!reason.empty()) out += "Reason: " + base::TerminalSafe(reason) + "\n";
  // Ops per (device, type), largest first (by_op is sorted by bytes).
  std::map<std::pair<uint64_t, std::string>, std::vector<const json*>> ops;
  for (const json& o : ArrayOf(s, "by_op"))
    ops[{U64(o, "device"), o.value("type", std::string())}].push_back(&o);
  // The type the reason names first.
  const std::string failing = TypeOfReason(reason);
  std::string first, rest;
  for (const json& t : ArrayOf(s, "types")) {
    const std::string type = t.value("type", std::string());
    (type == failing ? first : rest) += TypeLine(s, t, ops[{U64(t, "device"), type}]);
  }
  return out + first + rest;
}

}  // namespace ttmem::daemon
