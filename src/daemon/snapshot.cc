#include "daemon/snapshot.h"

#include <algorithm>
#include <array>
#include <string>
#include <tuple>

#include "protocol/mem_types.h"

namespace ttmem::daemon {
namespace {

using nlohmann::json;

json OpJson(const ProcessMeta& meta, uint16_t op) {
  return op == 0 ? json() : json(meta.OpName(op));
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

}  // namespace

json BuildSnapshot(const ledger::Ledger& ledger, pid_t pid, const ProcessMeta& meta,
                   std::optional<uint32_t> device,
                   const std::map<uint32_t, std::vector<TypeFragmentation>>& frag,
                   uint64_t now_unix_ms) {
  json out = {{"pid", pid}, {"name", meta.name}, {"time_unix_ms", now_unix_ms}};
  auto p = ledger.processes().find(pid);
  if (p == ledger.processes().end()) {
    out["error"] = "no such process reports to this ttmemd";
    return out;
  }
  Held h = Collect(p->second, device);
  json buffers = json::array();
  for (size_t i = 0; i < h.buffers.size() && i < kMaxSnapshotBuffers; ++i) {
    const ledger::LiveEntry& e = *h.buffers[i];
    buffers.push_back({{"pid", pid},
                       {"device", e.device},
                       {"type", std::string(proto::kMemTypeKeys[e.type])},
                       {"address", e.address},
                       {"size", e.size},
                       {"op", OpJson(meta, e.op)},
                       {"id", e.id},
                       {"capture", e.hooked != 0}});
  }
  std::vector<std::pair<uint64_t, json>> ops;
  for (const auto& [key, v] : h.by_op) {
    const auto& [op, dev, type] = key;
    ops.emplace_back(v[0], json{{"op", OpJson(meta, op)},
                                {"device", dev},
                                {"type", std::string(proto::kMemTypeKeys[type])},
                                {"bytes", v[0]},
                                {"buffers", v[1]}});
  }
  std::stable_sort(ops.begin(), ops.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  json by_op = json::array();
  for (auto& [bytes, o] : ops) by_op.push_back(std::move(o));
  json devices = json::array();
  for (const auto& [key, v] : h.by_type) {
    const auto& [dev, type] = key;
    auto d = ledger.devices().find(dev);
    json t = {{"device", dev},
              {"type", std::string(proto::kMemTypeKeys[type])},
              {"process_bytes", v[0]},
              {"process_buffers", v[1]},
              {"used_bytes", d != ledger.devices().end() ? d->second.usage[type].bytes : 0},
              {"capacity_bytes", nullptr},
              {"largest_free_block_bytes", nullptr},
              {"free_blocks", nullptr}};
    if (d != ledger.devices().end() && d->second.info && d->second.info->capacity_bytes[type] != 0)
      t["capacity_bytes"] = d->second.info->capacity_bytes[type];
    auto f = frag.find(dev);
    if (f != frag.end())
      for (const TypeFragmentation& tf : f->second)
        if (tf.type == type) {
          t["bank_count"] = tf.bank_count;
          t["largest_free_block_bytes"] = tf.largest_free_block;  // per bank
          t["free_blocks"] = tf.free_blocks;
          t["map"] = tf.map;
        }
    devices.push_back(std::move(t));
  }
  out["live_buffers"] = h.buffers.size();
  out["truncated"] = h.buffers.size() > kMaxSnapshotBuffers;
  out["buffers"] = std::move(buffers);
  out["by_op"] = std::move(by_op);
  out["types"] = std::move(devices);
  return out;
}

}  // namespace ttmem::daemon
