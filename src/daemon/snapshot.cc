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

using nlohmann::json;

json OpJson(const ProcessMeta& meta, uint16_t op) {
  return op == 0 ? json() : json(meta.OpName(op));
}

std::string TypeKey(int type) {
  return std::string(proto::kMemTypeKeys[type]);
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

// The "buffers" array as JSON text, written directly: 200,000 of them as JSON objects took the
// daemon 300 MB and most of a second.
std::string BuffersText(const Held& h, pid_t pid, const ProcessMeta& meta, uint32_t now_s) {
  std::string out = "[";
  std::map<uint16_t, std::string> ops;  // op id -> its JSON text
  auto op = [&](uint16_t id) -> const std::string& {
    auto [it, fresh] = ops.try_emplace(id);
    if (fresh) it->second = OpJson(meta, id).dump(-1, ' ', false, json::error_handler_t::replace);
    return it->second;
  };
  const size_t n = std::min(h.buffers.size(), kMaxSnapshotBuffers);
  out.reserve(n * 150 + 2);
  for (size_t i = 0; i < n; ++i) {
    const ledger::LiveEntry& e = *h.buffers[i];
    // Keys in the order nlohmann's objects keep (sorted); age in whole seconds, null when
    // unknown (restored, or re-sent by a resync).
    fmt::format_to(
        std::back_inserter(out),
        "{}{{\"address\":{},\"age_s\":{},\"capture\":{},\"device\":{},\"id\":{},"
        "\"op\":{},\"pid\":{},\"size\":{},\"type\":\"{}\"}}",
        i == 0 ? "" : ",", e.address,
        e.born_s == 0 || e.born_s > now_s ? std::string("null") : std::to_string(now_s - e.born_s),
        e.hooked != 0, e.device, e.id, op(e.op), pid, uint64_t{e.size},
        proto::kMemTypeKeys[e.type]);
  }
  return out + "]";
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

json TypeJson(const SnapshotInput::Type& in, const std::array<uint64_t, 2>& mine,
              const std::map<uint32_t, std::vector<TypeFragmentation>>& frag) {
  json t = {{"device", in.device},
            {"type", TypeKey(in.type)},
            {"process_bytes", mine[0]},
            {"process_buffers", mine[1]},
            {"used_bytes", in.used_bytes},
            {"capacity_bytes", nullptr},
            {"holders", in.holders},
            {"holder_count", in.holder_count},
            {"largest_free_block_bytes", nullptr},
            {"free_blocks", nullptr}};
  if (in.capacity_bytes != 0) t["capacity_bytes"] = in.capacity_bytes;
  auto f = frag.find(in.device);
  if (f == frag.end()) return t;
  for (const TypeFragmentation& tf : f->second) {
    if (tf.type != in.type) continue;
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
    for (int t = 0; t < ledger::kNumTypes; ++t) {
      if (usage[static_cast<size_t>(t)].buffers == 0) continue;
      SnapshotInput::Type ty;
      ty.device = dev;
      ty.type = t;
      if (d != ledger.devices().end()) {
        ty.used_bytes = d->second.usage[static_cast<size_t>(t)].bytes;
        if (d->second.info) ty.capacity_bytes = d->second.info->capacity_bytes[t];
      }
      ty.holders = HoldersJson(ledger, metas, dev, t, &ty.holder_count);
      in.types.push_back(std::move(ty));
    }
  }
  in.frag = std::move(frag);
  in.spans = std::move(spans);
  return in;
}

json SnapshotDocument(SnapshotInput& in) {
  json out = {{"pid", in.req.pid}, {"name", in.meta.name}, {"time_unix_ms", in.now_unix_ms}};
  if (!in.req.reason.empty()) out["reason"] = in.req.reason;
  if (!in.found) {
    out["error"] = "no such process reports to this ttmemd";
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
  json types = json::array();
  for (const SnapshotInput::Type& t : in.types)
    types.push_back(TypeJson(t, mine[{t.device, t.type}], in.frag));
  out["live_buffers"] = in.entries.size();
  out["truncated"] = in.entries.size() > kMaxSnapshotBuffers;
  out["types"] = std::move(types);
  return out;
}

std::string BuildSnapshot(SnapshotInput& in, bool text) {
  json doc = SnapshotDocument(in);
  if (!in.found) return doc.dump(-1, ' ', false, json::error_handler_t::replace);
  const Held h = Collect(in.entries);
  doc["by_op"] = ByOpJson(h, in.meta);
  doc["summary"] = SnapshotSummary(doc);
  if (text) return doc["summary"].get<std::string>();
  // "buffers" sorts first among the keys: the document is `{"buffers":[...],` and the rest.
  const std::string rest = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  return "{\"buffers\":" + BuffersText(h, in.req.pid, in.meta, in.now_s) + "," + rest.substr(1);
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
