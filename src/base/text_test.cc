// Text from others made safe: valid UTF-8 where it enters, cut at character boundaries.
#include "base/text.h"

#include <gtest/gtest.h>

namespace ttmem::base {
namespace {

TEST(Text, InvalidUtf8BecomesReplacementCharactersAndValidTextStays) {
  EXPECT_EQ(ValidUtf8("ttnn::matmul"), "ttnn::matmul");
  EXPECT_EQ(ValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(ValidUtf8("ev\xff\xfeil"), "ev\xef\xbf\xbd\xef\xbf\xbdil");
  EXPECT_EQ(ValidUtf8("m\xc3"), "m\xef\xbf\xbd");                // cut inside a character
  EXPECT_EQ(ValidUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
  EXPECT_EQ(ValidUtf8("\x80x"), "\xef\xbf\xbdx");  // a stray continuation
  EXPECT_EQ(ValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
  EXPECT_EQ(ValidUtf8(""), "");
}

TEST(Text, CutsNeverSplitACharacter) {
  const std::string s = "ab\xc3\xa9";  // "abé": é is bytes 2..3
  EXPECT_EQ(Utf8Cut(s, 3), 2u);        // inside é: back to its start
  EXPECT_EQ(Utf8Cut(s, 2), 2u);
  EXPECT_EQ(Utf8Cut(s, 10), s.size());
  const std::string emoji = "x\xf0\x9f\x98\x80";
  for (size_t k = 2; k <= 4; ++k) EXPECT_EQ(Utf8Cut(emoji, k), 1u) << k;
  EXPECT_EQ(Utf8Cut(emoji, 5), 5u);
  // Not UTF-8 at all (four continuation bytes): cut where asked rather than walk back further.
  EXPECT_EQ(Utf8Cut("\x80\x80\x80\x80\x80", 4), 4u);
  // Python's ttmem.scope("m" * 126 + "é") at libttmem's 127-byte bound keeps the 126 m's.
  const std::string long_name = std::string(126, 'm') + "\xc3\xa9";
  EXPECT_EQ(Utf8Cut(long_name, 127), 126u);
}

}  // namespace
}  // namespace ttmem::base
