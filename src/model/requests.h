// requests.h — the text of the queries the CLI sends and the first look at a reply (issue 27: the
// CLI builds and reads JSON only through the model). A request is one JSON object with a "cmd".
#ifndef TTMEM_MODEL_REQUESTS_H_
#define TTMEM_MODEL_REQUESTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ttmem::model {

// Request("snapshot").Int("pid", 42).Text() == R"({"cmd":"snapshot","pid":42})". Keys are the
// caller's literals; string values are escaped (invalid UTF-8 replaced).
class Request {
 public:
  explicit Request(std::string_view cmd);
  Request& Int(std::string_view key, int64_t v);
  Request& Bool(std::string_view key, bool v);
  Request& Str(std::string_view key, const std::string& v);
  std::string Text() const { return text_ + "}"; }

 private:
  Request& Member(std::string_view key, const std::string& value);
  std::string text_;
};

// Whether a reply is an answer: false with *error when it is not a JSON object ("is it a ttmemd
// of another version?") or is the daemon's refusal ("ttmemd refused the request: …").
[[nodiscard]] bool CheckReply(std::string_view text, std::string* error);

// The daemon's refusal ({"error": …}) as JSON text, if the text is one.
std::optional<std::string> Refusal(std::string_view text);

// A string as a JSON value (quoted, escaped, invalid UTF-8 replaced).
std::string JsonString(const std::string& s);

// A JSON text indented by 2 with a final newline (invalid UTF-8 replaced); text that is not JSON
// comes back as it was.
std::string Pretty(std::string_view text);

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_REQUESTS_H_
