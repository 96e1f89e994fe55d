// user.h — a uid's login name, as everything that shows a process's user names it.
#ifndef TTMEM_BASE_USER_H_
#define TTMEM_BASE_USER_H_

#include <sys/types.h>

#include <string>

namespace ttmem::base {

// The uid's name from the user database (valid UTF-8), or its number when it has none.
std::string UserName(uid_t uid);

}  // namespace ttmem::base

#endif  // TTMEM_BASE_USER_H_
