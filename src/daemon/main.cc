// ttmemd — the per-host ttmem daemon. Runs in the foreground, logs to stderr.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "base/text.h"
#include "daemon/log.h"
#include "daemon/server.h"
#include "protocol/paths.h"

namespace {

// The options, each with its help; --socket-mode is read into *mode (checked after parsing).
void AddOptions(CLI::App& app, ttmem::daemon::Options& options, std::string* mode) {
  app.add_option("--socket", options.socket_path,
                 "socket path (env TTMEM_SOCKET; default /run/ttmem/ttmemd.sock as root, else "
                 "$XDG_RUNTIME_DIR/ttmemd.sock or /tmp/ttmem-UID/ttmemd.sock)")
      ->capture_default_str();
  app.add_option("--socket-mode", *mode,
                 "octal permissions of the socket (default 0666 under /run/ttmem, else 0600)");
  app.add_flag("-v,--verbose", options.verbose, "log every connection event");
  app.add_option("--log", options.log_path,
                 "log to this file (append) instead of stderr; SIGHUP reopens it");
  app.add_option("--max-connections-per-uid", options.max_connections_per_uid,
                 "connections one uid may hold (reporting and querying)")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  app.add_option("--shm-dir", options.shm_dir,
                 "where tt-metal publishes its own statistics (tt_device_*_memory); \"\" turns "
                 "reading them off")
      ->capture_default_str();
  app.add_option("--driver-dir", options.driver_dir,
                 "the Tenstorrent driver's per-device directory (N/pids lists who holds device N "
                 "open)")
      ->capture_default_str();
  app.add_option("--history-seconds", options.history_seconds,
                 "seconds of per-device and per-process history kept (one sample a second)")
      ->check(CLI::Range(0u, 86400u))
      ->capture_default_str();
  app.add_option("--max-live-buffers-per-uid", options.max_live_buffers_per_uid,
                 "live buffers one uid's processes may hold before they are disconnected")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--metrics-listen", options.metrics_listen,
                 "serve Prometheus metrics at http://ADDR:PORT/metrics (off by default; "
                 "127.0.0.1:9464 keeps them on this host, :9464 serves every address)");
}

// What parsing leaves to check: 0 when the options hold, else the exit code (said why).
int CheckOptions(ttmem::daemon::Options& options, const std::string& mode) {
  if (options.socket_path.empty()) {
    std::fprintf(stderr,
                 "ttmemd: --socket is empty; give the path of the socket to create, like "
                 "/run/ttmem/ttmemd.sock\n");
    return 2;
  }
  if (!mode.empty()) {
    char* end = nullptr;
    unsigned long m = std::strtoul(mode.c_str(), &end, 8);
    if (*end != '\0' || m == 0 || m > 0777) {
      std::fprintf(stderr, "ttmemd: --socket-mode '%s' is not an octal mode like 0660\n",
                   mode.c_str());
      return 2;
    }
    options.socket_mode = static_cast<uint32_t>(m);
  }
  if (!options.log_path.empty()) {
    std::string error;
    if (!ttmem::daemon::OpenLog(options.log_path, &error)) {
      std::fprintf(stderr, "ttmemd: %s (check the path and its permissions)\n", error.c_str());
      return 2;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ttmem::daemon::Options options;
  options.socket_path = ttmem::proto::DefaultSocketPath();
  std::string mode;
  CLI::App app{
      "ttmemd: aggregates Tenstorrent device-memory reports from every process on this host"};
  AddOptions(app, options, &mode);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ttmemd: %s (run 'ttmemd --help' for the options)\n",
                 ttmem::base::TerminalSafe(ttmem::base::ShortenLongWords(e.what())).c_str());
    return 2;
  }
  if (int code = CheckOptions(options, mode); code != 0) return code;
  ttmem::daemon::Server server(options);
  std::string error;
  if (!server.Start(&error)) {
    std::fprintf(stderr, "ttmemd: %s\n", error.c_str());
    return 1;
  }
  return server.Run();
}
