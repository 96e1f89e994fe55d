// ttmem sim — runs the simulated workload binary (ttmem-sim, installed beside ttmem) with
// tracking enabled and pointed at the chosen daemon socket.
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"

namespace ttmem::cli {

int RunSim(const SimOptions& o, const char* argv0) {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = ".";
  if (n > 0) {
    self[n] = '\0';
    dir = self;
    dir = dir.substr(0, dir.rfind('/'));
  } else if (std::string a = argv0; a.find('/') != std::string::npos) {
    dir = a.substr(0, a.rfind('/'));
  }
  std::string exe = dir + "/ttmem-sim";
  if (::access(exe.c_str(), X_OK) != 0) {
    PrintError(
        fmt::format("cannot find the simulator at {}: reinstall ttmem (it installs "
                    "ttmem-sim beside ttmem)",
                    exe));
    return kExitFailure;
  }
  ::setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
  ::setenv("TTMEM_SOCKET", o.socket.c_str(), 1);
  std::vector<std::string> args = {exe,
                                   "--devices",
                                   std::to_string(o.devices),
                                   "--threads",
                                   std::to_string(o.threads),
                                   "--seconds",
                                   fmt::format("{}", o.seconds),
                                   "--arch",
                                   o.arch,
                                   "--seed",
                                   std::to_string(o.seed)};
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  ::execv(exe.c_str(), cargs.data());
  PrintError(fmt::format("cannot run {}: {}", exe, std::strerror(errno)));
  return kExitFailure;
}

}  // namespace ttmem::cli
