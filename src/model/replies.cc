#include "model/replies.h"

#include <nlohmann/json.hpp>

#include "model/tolerant_json.h"

namespace ttmem::model {
namespace {

using json = nlohmann::json;
using namespace tolerant;  // NOLINT: the model's readers

std::string Text(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json OpJson(const std::optional<std::string>& op) {
  return op ? json(*op) : json();
}

json SamplesJson(const std::vector<HistorySample>& samples) {
  json rows = json::array();
  for (const HistorySample& s : samples) {
    json row = json::array({s.unix_ms});
    for (uint64_t v : s.used) row.push_back(v);
    rows.push_back(std::move(row));
  }
  return rows;
}

// --- Tolerant reading: what is absent or mistyped reads as empty --------------------------------

json Checked(json j, std::optional<std::string>* error) {
  if (!j.is_object()) {
    *error = "the daemon's reply is not a JSON object";
    return json::object();
  }
  if (auto e = j.find("error"); e != j.end()) {
    *error = e->is_string() ? e->get<std::string>() : "refused";
    return json::object();
  }
  return j;
}

std::optional<std::string> Op(const json& j) {
  const json& v = Member(j, "op");
  return v.is_string() ? std::optional<std::string>(v.get<std::string>()) : std::nullopt;
}

std::vector<HistorySample> Samples(const json& j) {
  std::vector<HistorySample> out;
  for (const json& row : Array(j, "samples")) {
    if (!row.is_array() || row.empty()) continue;
    HistorySample s;
    s.unix_ms = U64(row[0]);
    for (size_t i = 1; i < row.size() && i <= s.used.size(); ++i) s.used[i - 1] = U64(row[i]);
    out.push_back(s);
  }
  return out;
}

}  // namespace

std::string ToJsonText(const BuffersReply& r) {
  json list = json::array(), by_op = json::array();
  for (const BufferRow& b : r.buffers)
    list.push_back({{"device", b.device},
                    {"type", b.type},
                    {"id", b.id},
                    {"address", b.address},
                    {"size", b.size},
                    {"capture", b.capture},
                    {"op", OpJson(b.op)}});
  for (const OpBytes& o : r.by_op) {
    json by_type = json::object();
    for (const auto& [type, v] : o.by_type) by_type[type] = v;
    by_op.push_back({{"op", OpJson(o.op)},
                     {"bytes", o.bytes},
                     {"by_type", std::move(by_type)},
                     {"buffers", o.buffers}});
  }
  return Text({{"buffers", std::move(list)},
               {"live_buffers", r.live_buffers},
               {"by_op", std::move(by_op)}});
}

std::string ToJsonText(const HistoryReply& r) {
  json columns = json::array({"unix_ms"});
  for (auto k : proto::kMemTypeKeys) columns.push_back(std::string(k));
  json devices = json::array(), processes = json::array();
  for (const auto& [id, s] : r.devices)
    devices.push_back({{"id", id}, {"samples", SamplesJson(s)}});
  for (const auto& [pid, s] : r.processes)
    processes.push_back({{"pid", pid}, {"samples", SamplesJson(s)}});
  return Text({{"interval_ms", r.interval_ms},
               {"columns", std::move(columns)},
               {"devices", std::move(devices)},
               {"processes", std::move(processes)}});
}

std::string ToJsonText(const FragmentationReply& r) {
  json devices = json::array();
  for (const FragmentationDevice& d : r.devices) {
    json types = json::array();
    for (const FragmentationType& t : d.types)
      types.push_back({{"type", t.type},
                       {"bank_count", t.bank_count},
                       {"bank_base", t.bank_base},
                       {"bank_size", t.bank_size},
                       {"used_per_bank_bytes", t.used_per_bank_bytes},
                       {"free_per_bank_bytes", t.free_per_bank_bytes},
                       {"largest_free_block_bytes", t.largest_free_block_bytes},
                       {"free_blocks", t.free_blocks},
                       {"map", t.map}});
    devices.push_back({{"id", d.id}, {"types", std::move(types)}});
  }
  return Text({{"devices", std::move(devices)}});
}

BuffersReply ParseBuffersReply(const std::string& text) {
  return ReadBuffersReply(json::parse(text, nullptr, /*allow_exceptions=*/false));
}
HistoryReply ParseHistoryReply(const std::string& text) {
  return ReadHistoryReply(json::parse(text, nullptr, /*allow_exceptions=*/false));
}
FragmentationReply ParseFragmentationReply(const std::string& text) {
  return ReadFragmentationReply(json::parse(text, nullptr, /*allow_exceptions=*/false));
}

BuffersReply ReadBuffersReply(const json& doc) {
  BuffersReply r;
  const json j = Checked(doc, &r.error);
  for (const json& b : Array(j, "buffers"))
    r.buffers.push_back({static_cast<uint32_t>(U64(b, "device")), Str(b, "type"), U64(b, "id"),
                         U64(b, "address"), U64(b, "size"),
                         Member(b, "capture").is_boolean() && Member(b, "capture").get<bool>(),
                         Op(b)});
  r.live_buffers = U64(j, "live_buffers");
  for (const json& o : Array(j, "by_op")) {
    OpBytes x{Op(o), U64(o, "bytes"), U64(o, "buffers"), {}};
    const json& by_type = Member(o, "by_type");
    if (by_type.is_object())
      for (const auto& [type, v] : by_type.items()) x.by_type[type] = U64(v);
    r.by_op.push_back(std::move(x));
  }
  return r;
}

HistoryReply ReadHistoryReply(const json& doc) {
  HistoryReply r;
  const json j = Checked(doc, &r.error);
  r.interval_ms = U64(j, "interval_ms");
  for (const json& d : Array(j, "devices"))
    r.devices[static_cast<uint32_t>(U64(d, "id"))] = Samples(d);
  for (const json& p : Array(j, "processes"))
    r.processes[static_cast<pid_t>(U64(p, "pid"))] = Samples(p);
  return r;
}

FragmentationReply ReadFragmentationReply(const json& doc) {
  FragmentationReply r;
  const json j = Checked(doc, &r.error);
  for (const json& d : Array(j, "devices")) {
    FragmentationDevice& dev = r.devices.emplace_back();
    dev.id = static_cast<uint32_t>(U64(d, "id"));
    for (const json& t : Array(d, "types"))
      dev.types.push_back({Str(t, "type"), static_cast<uint32_t>(U64(t, "bank_count")),
                           U64(t, "bank_base"), U64(t, "bank_size"), U64(t, "used_per_bank_bytes"),
                           U64(t, "free_per_bank_bytes"), U64(t, "largest_free_block_bytes"),
                           U64(t, "free_blocks"), Str(t, "map")});
  }
  return r;
}

}  // namespace ttmem::model
