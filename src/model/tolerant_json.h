// tolerant_json.h — the model's one set of tolerant readers (issue 27): a monitor reads what the
// daemon sent without ever throwing; what is missing or mistyped reads as empty (0, "", nullopt).
// Used by the readers of the replies, the snapshot and the notices; nowhere else.
#ifndef TTMEM_MODEL_TOLERANT_JSON_H_
#define TTMEM_MODEL_TOLERANT_JSON_H_

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ttmem::model::tolerant {

using json = nlohmann::json;

inline const json& Member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}
inline const json& Array(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const json& v = Member(j, key);
  return v.is_array() ? v : kEmpty;
}
inline std::optional<uint64_t> OptU64(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}
inline std::optional<uint64_t> OptU64(const json& j, const char* key) {
  return OptU64(Member(j, key));
}
inline uint64_t U64(const json& v) {
  return OptU64(v).value_or(0);
}
inline uint64_t U64(const json& j, const char* key) {
  return U64(Member(j, key));
}
inline int64_t I64(const json& j, const char* key) {
  const json& v = Member(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}
inline std::optional<std::string> OptStr(const json& j, const char* key) {
  const json& v = Member(j, key);
  return v.is_string() ? std::optional<std::string>(v.get<std::string>()) : std::nullopt;
}
inline std::string Str(const json& j, const char* key) {
  return OptStr(j, key).value_or("");
}
inline bool Bool(const json& j, const char* key) {
  const json& v = Member(j, key);
  return v.is_boolean() && v.get<bool>();
}

}  // namespace ttmem::model::tolerant

#endif  // TTMEM_MODEL_TOLERANT_JSON_H_
