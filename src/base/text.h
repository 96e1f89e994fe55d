// text.h — text that came from someone else (process names, command lines, tags, file names)
// made safe to print on a terminal.
#ifndef TTMEM_BASE_TEXT_H_
#define TTMEM_BASE_TEXT_H_

#include <string>
#include <string_view>

namespace ttmem::base {

// `s` with everything a terminal could act on written as visible escapes: C0 controls (newline
// and tab included), DEL, C1 controls (U+0080..U+009F), bidirectional overrides and isolates
// (U+202A..U+202E, U+2066..U+2069), line and paragraph separators, and bytes that are not valid
// UTF-8, each as \xNN (bytes) or \u{NNNN} (code points). Valid printable UTF-8 is kept as it is.
// JSON output never uses this: it stays exact.
std::string TerminalSafe(std::string_view s);

// `s` as valid UTF-8: every byte that does not begin a valid sequence (a stray continuation, a
// truncated or overlong sequence, a surrogate, past U+10FFFF) becomes U+FFFD; valid text is kept
// as it is. Applied where text from a client or from /proc enters the daemon, so that every JSON
// writer and every metrics label downstream gets valid UTF-8.
std::string ValidUtf8(std::string_view s);

// The longest prefix of s[0, max) that does not end inside a UTF-8 sequence (a cut name stays
// valid text): `max` itself when s[max] does not continue a sequence.
size_t Utf8Cut(std::string_view s, size_t max);

// `s` with every run of more than `max` non-space characters cut to its first `max` - 12 and
// "...(N chars)": an error message quoting a 300-digit argument stays one readable line.
std::string ShortenLongWords(std::string_view s, size_t max = 40);

}  // namespace ttmem::base

#endif  // TTMEM_BASE_TEXT_H_
