// ttmem — the command line: status, top, sim.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "protocol/paths.h"

namespace {

void AddSocket(CLI::App* cmd, std::string* socket) {
  cmd->add_option("--socket", *socket, "ttmemd socket (env TTMEM_SOCKET)")->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ttmem::cli;
  CLI::App app{"ttmem: who holds how much Tenstorrent device memory, on which device"};
  app.require_subcommand(1);
  std::string socket = ttmem::proto::DefaultSocketPath();
  AddSocket(&app, &socket);

  StatusOptions st;
  auto* status = app.add_subcommand("status", "print devices, memory by type and processes");
  AddSocket(status, &socket);
  status->add_flag("--json", st.json, "print one JSON object (see docs/protocol.md)");
  status->add_option("-d,--device", st.devices, "only this device (repeatable)");
  status->add_option("-l,--loop", st.loop_seconds, "repeat every SECONDS until interrupted")
      ->check(CLI::Range(0.05, 86400.0));

  TopOptions top;
  auto* topc = app.add_subcommand("top", "live view (prints the status table when not a terminal)");
  AddSocket(topc, &socket);
  topc->add_option("-d,--device", top.devices, "show this device (repeatable)");
  topc->add_flag("-a,--all", top.all, "show all devices (the default)");
  topc->add_option("-r,--refresh", top.refresh_ms, "refresh interval in milliseconds")
      ->check(CLI::Range(50u, 3600000u));

  SimOptions sim;
  auto* simc =
      app.add_subcommand("sim", "run a built-in simulated workload that reports to ttmemd");
  AddSocket(simc, &socket);
  simc->add_option("--devices", sim.devices, "number of simulated devices")
      ->check(CLI::Range(1u, 64u));
  simc->add_option("--threads", sim.threads, "allocating threads")->check(CLI::Range(1u, 64u));
  simc->add_option("--seconds", sim.seconds, "run time; 0 runs until interrupted")
      ->check(CLI::Range(0.0, 86400.0));
  simc->add_option("--arch", sim.arch, "device architecture")
      ->check(CLI::IsMember({"wormhole_b0", "blackhole"}));
  simc->add_option("--seed", sim.seed, "random seed");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string where = app.get_subcommands().empty()
                            ? std::string("ttmem --help")
                            : "ttmem " + app.get_subcommands().front()->get_name() + " --help";
    PrintError(std::string(e.what()) + " (run '" + where + "' for the usage)");
    return kExitUsage;
  }
  st.socket = top.socket = sim.socket = socket;
  if (status->parsed()) return RunStatus(st);
  if (topc->parsed()) return RunTop(top);
  if (simc->parsed()) return RunSim(sim, argv[0]);
  return kExitUsage;
}
