#include "model/pick.h"

#include <nlohmann/json.hpp>

#include "protocol/mem_types.h"

namespace ttmem::model {
namespace {

using json = nlohmann::json;

template <typename T>
json Opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json TypeJson(const PickTypeFigures& t) {
  return {{"type", std::string(proto::kMemTypeKeys[static_cast<size_t>(t.type)])},
          {"bank_count", Opt(t.bank_count)},
          {"bank_size_bytes", Opt(t.bank_size)},
          {"need_per_bank_bytes", Opt(t.need_per_bank)},
          {"largest_free_block_bytes", Opt(t.largest_free_block)},
          {"free_bytes", Opt(t.free_bytes)},
          {"capacity_bytes", Opt(t.capacity_bytes)},
          {"fits", t.fits}};
}

json UnitJson(const PickUnit& u) {
  json chips = json::array();
  for (const PickChip& c : u.chips) {
    json types = json::array();
    for (const PickTypeFigures& t : c.types) types.push_back(TypeJson(t));
    chips.push_back({{"device", c.device},
                     {"arch", c.arch},
                     {"processes", c.processes},
                     {"open_by", c.open_by},
                     {"types", types}});
  }
  return {{"pcie_id", u.pcie_id},
          {"pcie_id_known", u.pcie_id_known},
          {"board_id", Opt(u.board_id)},
          {"board_type", u.board_type.empty() ? json(nullptr) : json(u.board_type)},
          {"chips", chips},
          {"open_without_report", u.open_without_report},
          {"processes", u.processes},
          {"headroom", u.headroom_known ? json(u.headroom) : json(nullptr)},
          {"fits", u.fits},
          {"picked", u.picked},
          {"reasons", u.reasons}};
}

}  // namespace

std::string VisibleDevices(const PickDecision& d) {
  std::string ids;
  for (uint32_t id : d.picked) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  return ids;
}

std::string ToJsonText(const PickDecision& d) {
  json needs = json::object();
  for (const PickNeed& n : d.needs)
    needs[std::string(proto::kMemTypeKeys[static_cast<size_t>(n.type)])] = {
        {"bytes", Opt(n.bytes)}, {"per_bank_bytes", Opt(n.per_bank)}};
  json units = json::array();
  json reasons = json::array();
  for (const PickUnit& u : d.units) {
    units.push_back(UnitJson(u));
    for (const std::string& r : u.reasons) reasons.push_back(r);
  }
  const std::string visible = VisibleDevices(d);
  const json j = {
      {"picked", d.picked},
      {"visible_devices", visible},
      {"env", d.picked.empty() ? json(nullptr) : json("TT_METAL_VISIBLE_DEVICES=" + visible)},
      {"n", d.n},
      {"exclusive", d.exclusive},
      {"arch", Opt(d.arch)},
      {"need", {{"source", d.need_source}, {"types", needs}}},
      {"devices", units},
      {"reasons", reasons},
      {"notes", d.notes},
      {"error", d.error.empty() ? json(nullptr) : json(d.error)}};
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace ttmem::model
