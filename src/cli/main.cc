// ttmem — the command line: status, top, cleanup, record, report, snapshot, pick, sim.
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "base/text.h"
#include "cli/commands.h"
#include "protocol/paths.h"

namespace {

void AddSocket(CLI::App* cmd, std::string* socket) {
  cmd->add_option("--socket", *socket, "ttmemd socket (env TTMEM_SOCKET)")->capture_default_str();
}

using namespace ttmem::cli;

CLI::App* AddStatus(CLI::App& app, std::string* socket, StatusOptions& st) {
  auto* status = app.add_subcommand("status", "print devices, memory by type and processes");
  AddSocket(status, socket);
  status->add_flag("--json", st.json, "print one JSON object (see docs/protocol.md)");
  status->add_option("--format", st.format, "table, json, csv or csv,noheader")
      ->check(CLI::IsMember({"table", "json", "csv", "csv,noheader"}));
  status->add_option("--query", st.query,
                     "comma-separated fields, printed as CSV (e.g. "
                     "device.id,device.dram.used_bytes; --list-fields lists them)");
  status->add_flag("--list-fields", st.list_fields, "list the fields --query accepts");
  status
      ->add_option("--source", st.source,
                   "daemon (default), or shm: read tt-metal's own shared-memory statistics "
                   "directly, no daemon needed")
      ->check(CLI::IsMember({"daemon", "shm"}));
  status->add_option("--shm-dir", st.shm_dir, "where --source shm looks (default /dev/shm)");
  status->add_option("-d,--device", st.devices, "only this device (repeatable)");
  status->add_option("-l,--loop", st.loop_seconds, "repeat every SECONDS until interrupted")
      ->check(CLI::Range(0.05, 86400.0));

  return status;
}

CLI::App* AddTop(CLI::App& app, std::string* socket, TopOptions& top) {
  auto* topc = app.add_subcommand("top", "live view (prints the status table when not a terminal)");
  AddSocket(topc, socket);
  topc->add_option("-d,--device", top.devices, "show this device (repeatable)");
  topc->add_flag("-a,--all", top.all, "show all devices (the default)");
  topc->add_option("-r,--refresh", top.refresh_ms, "refresh interval in milliseconds")
      ->check(CLI::Range(50u, 3600000u));
  topc->add_flag("--no-color", top.no_color, "no colours");
  topc->add_flag("--readonly", top.readonly, "never send signals to processes");

  return topc;
}

CLI::App* AddCleanup(CLI::App& app, CleanupOptions& cl) {
  auto* cleanc = app.add_subcommand(
      "cleanup", "repair tt-metal's shared-memory statistics left by processes that died");
  cleanc->add_flag("--shm", cl.shm, "free the slots of exited processes in tt_device_*_memory");
  cleanc->add_flag("--dry-run", cl.dry_run, "only say what would be freed");
  cleanc->add_option("--shm-dir", cl.shm_dir, "where the regions are (default /dev/shm)");

  return cleanc;
}

CLI::App* AddRecord(CLI::App& app, std::string* socket, RecordOptions& rec) {
  auto* recc = app.add_subcommand(
      "record", "record every allocation and free into SQLite (docs/recording.md)");
  AddSocket(recc, socket);
  recc->add_option("-o,--output", rec.output, "the recording to write (FILE.sqlite)")->required();
  recc->add_option("--pid", rec.pid, "only this process")->check(CLI::PositiveNumber);
  recc->add_flag("--force", rec.force, "replace the output file if it exists");
  recc->add_flag("-q,--quiet", rec.quiet, "no progress line or summary");
  recc->footer(
      "  -- CMD ARGS...   run CMD (TT_ALLOC_TRACKING_ENABLED=1 unless set), record until it "
      "exits,\n                   and exit with its status; without it, record until Ctrl-C");

  return recc;
}

CLI::App* AddSnapshot(CLI::App& app, std::string* socket, SnapshotOptions& snap) {
  auto* c = app.add_subcommand(
      "snapshot", "what one process holds now and why: every buffer with its op (JSON), a summary");
  AddSocket(c, socket);
  c->add_option("-p,--pid", snap.pid, "the process")->required()->check(CLI::PositiveNumber);
  c->add_option("-d,--device", snap.device, "only this device")->check(CLI::Range(0, 1023));
  c->add_option("-o,--output", snap.output, "write the snapshot's JSON to FILE");
  c->add_flag("--json", snap.json, "print the JSON instead of the summary");
  return c;
}

CLI::App* AddReport(CLI::App& app, ReportOptions& rep) {
  auto* repc = app.add_subcommand(
      "report", "peaks, buffers live at each peak, leaks and processes of a recording");
  repc->add_option("recording", rep.input, "a file written by ttmem record")->required();
  repc->add_flag("--json", rep.json, "print one JSON object");
  repc->add_option("--html", rep.html, "also write a self-contained HTML report with charts");
  repc->add_option("--trace", rep.trace,
                   "also write the recording as Chrome trace-event JSON (ui.perfetto.dev, "
                   "chrome://tracing): memory per device and type and per process, ops, marks");
  repc->add_option("--top", rep.top, "buffers listed at each peak (default 10)")
      ->check(CLI::Range(1u, 100000u));
  repc->add_flag("--advise", rep.advise,
                 "the smallest trace_region_size and l1_small_size (per bank) and the L1 headroom "
                 "per core this run would have fitted (always in --json as \"advice\")");
  auto* base = repc->add_option("--baseline", rep.baseline,
                                "compare each device and type's peak (and each op's) with this "
                                "earlier recording, or a report of it saved with --json");
  repc->add_option("--max-growth", rep.max_growth,
                   "with --baseline: exit 1 when a peak grew by more than PCT percent")
      ->check(CLI::Range(0.0, 1e9))
      ->needs(base);

  return repc;
}

CLI::App* AddPick(CLI::App& app, std::string* socket, PickCommandOptions& pk) {
  auto* c = app.add_subcommand(
      "pick", "the PCIe devices whose chips can hold a need now: TT_METAL_VISIBLE_DEVICES=2,3");
  AddSocket(c, socket);
  c->add_option("-n", pk.n, "how many PCIe devices (default 1)")->check(CLI::Range(1u, 1024u));
  const char* bytes = "BYTES over the type's banks (900K, 64M, 1.5G) or per bank (900K/bank)";
  c->add_option("--dram", pk.dram, std::string("DRAM needed: ") + bytes);
  c->add_option("--l1", pk.l1, std::string("L1 needed: ") + bytes);
  c->add_option("--l1-small", pk.l1_small, std::string("L1_SMALL needed: ") + bytes);
  c->add_option("--trace", pk.trace, std::string("TRACE needed: ") + bytes);
  c->add_option("--need", pk.need,
                "take the need from a recording (ttmem record) or its saved --json report: the "
                "advisor's per-bank peaks (L1 with CBs per core, L1_SMALL, TRACE) and DRAM's peak");
  c->add_flag("--exclusive", pk.exclusive,
              "only devices no process holds open, reporting or not (the driver's list)");
  c->add_option("--arch", pk.arch, "only chips of this architecture (wormhole_b0, blackhole)");
  c->add_option("--format", pk.format, "env (TT_METAL_VISIBLE_DEVICES=2,3), list (2,3) or json")
      ->check(CLI::IsMember({"env", "list", "json"}));
  return c;
}

// `ttmem record ... -- CMD ARGS...`: CMD and its arguments are not ttmem's to parse; they go to
// *command and *argc ends before the "--".
void SplitRecordCommand(int* argc_io, char** argv, std::vector<std::string>* command) {
  int& argc = *argc_io;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "record") continue;
    for (int j = i + 1; j < argc; ++j) {
      if (std::string(argv[j]) != "--") continue;
      for (int k = j + 1; k < argc; ++k) command->emplace_back(argv[k]);
      argc = j;
      break;
    }
    break;
  }
}

// A parse error as one line that names the fix.
int ParseFailed(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  std::string where = app.get_subcommands().empty()
                          ? std::string("ttmem --help")
                          : "ttmem " + app.get_subcommands().front()->get_name() + " --help";
  std::string what = e.what();
  // A first word that is no command: name it (CLI11 only says one is required).
  if (app.get_subcommands().empty()) {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--socket") {
        ++i;
        continue;
      }
      if (a.empty() || a[0] == '-') continue;
      std::string names;
      for (const CLI::App* s : app.get_subcommands([](CLI::App*) { return true; }))
        names += (names.empty() ? "" : ", ") + s->get_name();
      what = fmt::format("unknown command '{}' (the commands are {})", a, names);
      break;
    }
  }
  PrintError(ttmem::base::ShortenLongWords(what) + " (run '" + where + "' for the usage)");
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ttmem: who holds how much Tenstorrent device memory, on which device"};
  app.require_subcommand(1);
  std::string socket = ttmem::proto::DefaultSocketPath();
  AddSocket(&app, &socket);
  StatusOptions st;
  TopOptions top;
  CleanupOptions cl;
  RecordOptions rec;
  ReportOptions rep;
  SnapshotOptions snap;
  PickCommandOptions pk;
  CLI::App* status = AddStatus(app, &socket, st);
  CLI::App* topc = AddTop(app, &socket, top);
  CLI::App* cleanc = AddCleanup(app, cl);
  CLI::App* recc = AddRecord(app, &socket, rec);
  CLI::App* repc = AddReport(app, rep);
  CLI::App* snapc = AddSnapshot(app, &socket, snap);
  CLI::App* pickc = AddPick(app, &socket, pk);
  auto* simc = app.add_subcommand(
      "sim", "run a simulated tt-metal workload that reports to ttmemd (ttmem sim --help)");
  simc->prefix_command();  // everything after `sim` goes to ttmem-sim
  simc->set_help_flag();   // so does --help

  SplitRecordCommand(&argc, argv, &rec.command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return ParseFailed(app, e, argc, argv);
  }
  st.socket = top.socket = socket;
  if (status->parsed()) return RunStatus(st);
  if (topc->parsed()) return RunTop(top);
  if (cleanc->parsed()) return RunCleanup(cl);
  rec.socket = socket;
  if (recc->parsed()) return RunRecord(rec);
  if (repc->parsed()) return RunReport(rep);
  snap.socket = pk.socket = socket;
  if (pickc->parsed()) return RunPick(pk);
  if (snapc->parsed()) return RunSnapshot(snap);
  if (simc->parsed()) return RunSim(socket, simc->remaining(), argv[0]);
  return kExitUsage;
}
