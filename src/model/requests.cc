#include "model/requests.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/json_writer.h"

namespace ttmem::model {

Request::Request(std::string_view cmd) : text_("{\"cmd\":" + Escape(std::string(cmd))) {}

Request& Request::Member(std::string_view key, const std::string& value) {
  text_ += fmt::format(",{}:{}", Escape(std::string(key)), value);
  return *this;
}
Request& Request::Int(std::string_view key, int64_t v) {
  return Member(key, std::to_string(v));
}
Request& Request::Bool(std::string_view key, bool v) {
  return Member(key, v ? "true" : "false");
}
Request& Request::Str(std::string_view key, const std::string& v) {
  return Member(key, Escape(v));
}

std::string JsonString(const std::string& s) {
  return Escape(s);
}

bool CheckReply(std::string_view text, std::string* error) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "ttmemd sent a reply that is not a JSON object: is it a ttmemd of another version?";
    return false;
  }
  if (auto it = j.find("error"); it != j.end()) {
    *error = fmt::format("ttmemd refused the request: {}",
                         it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return false;
  }
  return true;
}

std::optional<std::string> Refusal(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto it = j.find("error");
  if (it == j.end()) return std::nullopt;
  return it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Pretty(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::string(text);
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace ttmem::model
