#include "base/user.h"

#include <pwd.h>

#include "base/text.h"

namespace ttmem::base {

std::string UserName(uid_t uid) {
  passwd pw{};
  passwd* res = nullptr;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != nullptr)
    return ValidUtf8(res->pw_name);
  return std::to_string(uid);
}

}  // namespace ttmem::base
