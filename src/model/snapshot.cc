#include "model/snapshot.h"

#include <iterator>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/tolerant_json.h"

namespace ttmem::model {
namespace {

using json = nlohmann::json;
using namespace tolerant;  // NOLINT: the model's readers

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json OpJson(const std::optional<std::string>& op) {
  return op ? json(*op) : json();
}

// The "buffers" array as text, written directly: 200,000 of them as JSON objects took the daemon
// 300 MB and most of a second. Keys in the order nlohmann's objects keep (sorted).
std::string BuffersText(const std::vector<SnapshotBuffer>& buffers) {
  std::string out = "[";
  out.reserve(buffers.size() * 150 + 2);
  std::map<std::string, std::string> ops;  // op name -> its JSON text
  auto op = [&](const std::optional<std::string>& name) -> std::string {
    if (!name) return "null";
    auto [it, fresh] = ops.try_emplace(*name);
    if (fresh) it->second = Dump(json(*name));
    return it->second;
  };
  for (size_t i = 0; i < buffers.size(); ++i) {
    const SnapshotBuffer& b = buffers[i];
    fmt::format_to(std::back_inserter(out),
                   "{}{{\"address\":{},\"age_s\":{},\"capture\":{},\"device\":{},\"id\":{},"
                   "\"op\":{},\"pid\":{},\"size\":{},\"type\":{}}}",
                   i == 0 ? "" : ",", b.address,
                   b.age_s ? std::to_string(*b.age_s) : std::string("null"), b.capture, b.device,
                   b.id, op(b.op), b.pid, b.size, Dump(json(b.type)));
  }
  return out + "]";
}

json TypeJson(const SnapshotType& t) {
  json holders = json::array();
  for (const SnapshotHolder& h : t.holders)
    holders.push_back({{"pid", h.pid}, {"name", h.name}, {"bytes", h.bytes}});
  json j = {{"device", t.device},
            {"type", t.type},
            {"process_bytes", t.process_bytes},
            {"process_buffers", t.process_buffers},
            {"used_bytes", t.used_bytes},
            {"capacity_bytes", t.capacity_bytes ? json(*t.capacity_bytes) : json()},
            {"holders", std::move(holders)},
            {"holder_count", t.holder_count},
            {"largest_free_block_bytes",
             t.largest_free_block_bytes ? json(*t.largest_free_block_bytes) : json()},
            {"free_blocks", t.free_blocks ? json(*t.free_blocks) : json()}};
  if (t.bank_count) {
    json hist = json::array();
    for (const FreeBlockClass& c : t.free_block_histogram)
      hist.push_back({{"min_bytes", c.min_bytes}, {"blocks", c.blocks}, {"bytes", c.bytes}});
    j.update({{"bank_count", *t.bank_count},
              {"bank_base", t.bank_base},
              {"bank_size", t.bank_size},
              {"free_block_histogram", std::move(hist)},
              {"map", t.map}});
  }
  return j;
}

// --- Tolerant reading --------------------------------------------------------------------------

}  // namespace

std::string ToJsonText(const Snapshot& s) {
  json j = {{"pid", s.pid}, {"name", s.name}, {"time_unix_ms", s.time_unix_ms}};
  if (s.reason) j["reason"] = *s.reason;
  if (s.error) {
    j["error"] = *s.error;
    return Dump(j);
  }
  json by_op = json::array(), types = json::array();
  for (const SnapshotOp& o : s.by_op)
    by_op.push_back({{"op", OpJson(o.op)},
                     {"device", o.device},
                     {"type", o.type},
                     {"bytes", o.bytes},
                     {"buffers", o.buffers}});
  for (const SnapshotType& t : s.types) types.push_back(TypeJson(t));
  j.update({{"live_buffers", s.live_buffers},
            {"truncated", s.truncated},
            {"by_op", std::move(by_op)},
            {"types", std::move(types)},
            {"summary", s.summary}});
  // "buffers" sorts first among the keys: the document is `{"buffers":[...],` and the rest.
  return "{\"buffers\":" + BuffersText(s.buffers) + "," + Dump(j).substr(1);
}

Snapshot ParseSnapshot(std::string_view text) {
  return ReadSnapshot(json::parse(text, nullptr, /*allow_exceptions=*/false));
}

Snapshot ReadSnapshot(const json& doc) {
  Snapshot s;
  if (!doc.is_object()) {
    s.error = kSnapshotNotAnObject;
    return s;
  }
  s.pid = static_cast<pid_t>(U64(doc, "pid"));
  s.name = Str(doc, "name");
  s.time_unix_ms = U64(doc, "time_unix_ms");
  s.reason = OptStr(doc, "reason");
  if (doc.contains("error")) {
    s.error = Member(doc, "error").is_string() ? Str(doc, "error") : "refused";
    return s;
  }
  s.live_buffers = U64(doc, "live_buffers");
  s.truncated = Bool(doc, "truncated");
  for (const json& b : Array(doc, "buffers"))
    s.buffers.push_back({static_cast<pid_t>(U64(b, "pid")), static_cast<uint32_t>(U64(b, "device")),
                         Str(b, "type"), U64(b, "address"), U64(b, "size"), U64(b, "id"),
                         OptStr(b, "op"), Bool(b, "capture"), OptU64(b, "age_s")});
  for (const json& o : Array(doc, "by_op"))
    s.by_op.push_back({OptStr(o, "op"), static_cast<uint32_t>(U64(o, "device")), Str(o, "type"),
                       U64(o, "bytes"), U64(o, "buffers")});
  for (const json& t : Array(doc, "types")) {
    SnapshotType& x = s.types.emplace_back();
    x.device = static_cast<uint32_t>(U64(t, "device"));
    x.type = Str(t, "type");
    x.process_bytes = U64(t, "process_bytes");
    x.process_buffers = U64(t, "process_buffers");
    x.used_bytes = U64(t, "used_bytes");
    x.capacity_bytes = OptU64(t, "capacity_bytes");
    for (const json& h : Array(t, "holders"))
      x.holders.push_back({static_cast<pid_t>(U64(h, "pid")), Str(h, "name"), U64(h, "bytes")});
    x.holder_count = U64(t, "holder_count");
    x.largest_free_block_bytes = OptU64(t, "largest_free_block_bytes");
    x.free_blocks = OptU64(t, "free_blocks");
    if (auto banks = OptU64(t, "bank_count")) {
      x.bank_count = static_cast<uint32_t>(*banks);
      x.bank_base = U64(t, "bank_base");
      x.bank_size = U64(t, "bank_size");
      for (const json& c : Array(t, "free_block_histogram"))
        x.free_block_histogram.push_back({U64(c, "min_bytes"), U64(c, "blocks"), U64(c, "bytes")});
      x.map = Str(t, "map");
    }
  }
  s.summary = Str(doc, "summary");
  return s;
}

}  // namespace ttmem::model
