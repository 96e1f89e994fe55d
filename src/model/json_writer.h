// json_writer.h — a minimal streaming JSON writer for the status document: keys are the
// caller's literals (never escaped); strings are escaped by nlohmann, invalid UTF-8 replaced.
// The document is written straight into its destination (no intermediate tree).
#ifndef TTMEM_MODEL_JSON_WRITER_H_
#define TTMEM_MODEL_JSON_WRITER_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ttmem::model {

// A string as a JSON value.
inline std::string Escape(const std::string& v) {
  return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Writes into *out as it goes; containers nest at most 16 deep (the document: 5).
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(*out) {}
  JsonWriter& Key(std::string_view k) {
    Separate();
    char buf[64];
    const size_t n = std::min(k.size(), sizeof(buf) - 3);
    buf[0] = '"';
    std::memcpy(buf + 1, k.data(), n);
    buf[n + 1] = '"';
    buf[n + 2] = ':';
    out_.append(buf, n + 3);
    after_key_ = true;
    return *this;
  }
  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Uint(uint64_t v) {
    fmt::format_int f(v);
    Raw(std::string_view(f.data(), f.size()));
  }
  void Int(int64_t v) {
    fmt::format_int f(v);
    Raw(std::string_view(f.data(), f.size()));
  }
  void Null() { Raw("null"); }
  void String(const std::string& v) {
    if (!Plain(v)) return Raw(Escape(v));
    Value();  // nothing to escape (most names): as nlohmann would write it, without it
    out_.push_back('"');
    out_.append(v);
    out_.push_back('"');
  }
  // A value already serialised (an escaped string from Escape()).
  void Raw(std::string_view json) {
    Value();
    out_.append(json);
  }
  // Null when zero / empty ("unknown").
  void UintOrNull(uint64_t v) { v != 0 ? Uint(v) : Null(); }
  void StringOrNull(const std::string& v) { !v.empty() ? String(v) : Null(); }

 private:
  // Printable ASCII without '"' and '\\': the same text escaped or not.
  static bool Plain(const std::string& v) {
    for (unsigned char c : v)
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
    return true;
  }
  void Open(char c) {
    Value();
    out_.push_back(c);
    first_[++depth_] = true;
  }
  void Close(char c) {
    out_.push_back(c);
    --depth_;
  }
  void Value() {
    if (after_key_)
      after_key_ = false;
    else
      Separate();
  }
  void Separate() {
    if (depth_ == 0) return;
    if (!first_[depth_]) out_.push_back(',');
    first_[depth_] = false;
  }
  std::string& out_;
  std::array<bool, 16> first_{};  // per open container (the document nests 5 deep): still empty
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace ttmem::model

#endif  // TTMEM_MODEL_JSON_WRITER_H_
