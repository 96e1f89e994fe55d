#include "base/text.h"

#include <cstdint>
#include <cstdio>

namespace ttmem::base {
namespace {

void Hex(std::string* out, unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\x%02x", b);
  *out += buf;
}

// The length of a valid UTF-8 sequence at s[i] (1..4) and its code point, or 0 when invalid.
size_t Utf8At(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t min;
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    n = 2, *cp = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    n = 3, *cp = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    n = 4, *cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3f);
  }
  if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;  // overlong
  return n;
}

bool Dangerous(uint32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

}  // namespace

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t n = Utf8At(s, i, &cp);
    if (n == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

size_t Utf8Cut(std::string_view s, size_t max) {
  if (max >= s.size()) return s.size();
  size_t cut = max;
  // Back off over continuation bytes (at most three) to the start of the sequence s[max] is in.
  for (int k = 0; k < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80; ++k)
    --cut;
  return (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80 ? max : cut;
}

std::string TerminalSafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t n = Utf8At(s, i, &cp);
    if (n == 0) {
      Hex(&out, static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    if (Dangerous(cp)) {
      if (cp < 0x100) {
        Hex(&out, static_cast<unsigned char>(cp));
      } else {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "\\u{%04x}", static_cast<unsigned>(cp));
        out += buf;
      }
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string ShortenLongWords(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    const std::string_view word = s.substr(i, j - i);
    if (word.size() > max && max > 12) {
      out.append(word.substr(0, max - 12));
      out += "...(" + std::to_string(word.size()) + " chars)";
    } else {
      out.append(word);
    }
    if (j < s.size()) out += ' ';
    i = j + 1;
  }
  return out;
}

}  // namespace ttmem::base
