#include "protocol/paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace ttmem::proto {

std::string DefaultSocketPath() {
  if (const char* env = std::getenv("TTMEM_SOCKET"); env != nullptr && env[0] != '\0') return env;
  struct stat st {};
  if (geteuid() == 0 || (stat("/run/ttmem", &st) == 0 && S_ISDIR(st.st_mode)))
    return "/run/ttmem/ttmemd.sock";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/')
    return std::string(xdg) + "/ttmemd.sock";
  return "/tmp/ttmem-" + std::to_string(geteuid()) + "/ttmemd.sock";
}

}  // namespace ttmem::proto
