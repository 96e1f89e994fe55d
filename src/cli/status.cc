#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/query.h"

namespace ttmem::cli {

void PrintError(const std::string& message) {
  std::fprintf(stderr, "ttmem: %s\n", message.c_str());
}

// Keeps only the devices asked for (processes keep their full figures).
void FilterDevices(nlohmann::json* status, const std::vector<uint32_t>& devices) {
  if (devices.empty()) return;
  auto& devs = (*status)["devices"];
  nlohmann::json kept = nlohmann::json::array();
  for (auto& d : devs)
    if (std::find(devices.begin(), devices.end(), d.value("id", 0u)) != devices.end())
      kept.push_back(d);
  devs = std::move(kept);
}

int RunStatus(const StatusOptions& o) {
  QueryClient q(o.socket);
  for (;;) {
    nlohmann::json s;
    std::string error;
    if (!q.Request("status", &s, &error)) {
      PrintError(error);
      return kExitUsage;
    }
    FilterDevices(&s, o.devices);
    std::string text = o.json ? s.dump(2) + "\n" : RenderStatus(s);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (o.loop_seconds <= 0) return kExitOk;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.loop_seconds));
    if (!o.json) std::fputs("\n", stdout);
  }
}

}  // namespace ttmem::cli
