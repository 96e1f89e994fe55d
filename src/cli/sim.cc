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

int RunSim(std::string socket, std::vector<std::string> args, const char* argv0) {
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
  std::vector<std::string> pass = {exe};
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--socket") {
      if (i + 1 == args.size()) {
        PrintError("--socket needs a path (run 'ttmem sim --help' for the usage)");
        return kExitUsage;
      }
      socket = args[++i];
    } else if (args[i].rfind("--socket=", 0) == 0) {
      socket = args[i].substr(9);
    } else {
      pass.push_back(args[i]);
    }
  }
  ::setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
  ::setenv("TTMEM_SOCKET", socket.c_str(), 1);
  std::vector<char*> cargs;
  for (auto& a : pass) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  ::execv(exe.c_str(), cargs.data());
  PrintError(fmt::format("cannot run {}: {}", exe, std::strerror(errno)));
  return kExitFailure;
}

}  // namespace ttmem::cli
