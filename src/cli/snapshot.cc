// `ttmem snapshot --pid PID [-d DEV] [-o FILE] [--json]`: what one process holds at this moment
// and why (each buffer's op), with the state of the devices it uses; a short summary on stdout.
#include <cstdio>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "base/bytes.h"
#include "base/text.h"
#include "cli/commands.h"
#include "cli/query.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {
namespace {

using nlohmann::json;

// A member array by reference (an empty one when absent): pointers into it stay valid.
const json& ArrayOf(const json& j, const char* key) {
  static const json kEmpty = json::array();
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

uint64_t U64(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string Label(const std::string& key) {
  auto t = proto::MemTypeFromKey(key);
  return t ? std::string(proto::kMemTypeLabels[static_cast<size_t>(*t)]) : key;
}

std::string Pct(uint64_t part, uint64_t whole) {
  return whole == 0 ? "-"
                    : fmt::format("{:.0f} %",
                                  100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

}  // namespace

std::string SnapshotSummary(const json& s) {
  std::string out = fmt::format("Snapshot of pid {} ({}): {} live buffer(s){}\n", s.value("pid", 0),
                                s.value("name", std::string("?")), U64(s, "live_buffers"),
                                s.value("truncated", false) ? " (list truncated)" : "");
  // Ops per (device, type), largest first (the daemon sorts by_op by bytes).
  std::map<std::pair<uint64_t, std::string>, std::vector<const json*>> ops;
  for (const json& o : ArrayOf(s, "by_op"))
    ops[{U64(o, "device"), o.value("type", std::string())}].push_back(&o);
  for (const json& t : ArrayOf(s, "types")) {
    const uint64_t dev = U64(t, "device"), mine = U64(t, "process_bytes"),
                   used = U64(t, "used_bytes");
    const std::string type = t.value("type", std::string());
    std::string line = fmt::format("{} on device {}: pid {} holds {} = {} of the {} in use",
                                   Label(type), dev, s.value("pid", 0), base::FormatBytes(mine),
                                   Pct(mine, used), base::FormatBytes(used));
    if (t["capacity_bytes"].is_number())
      line += fmt::format(" ({} of {})", Pct(used, U64(t, "capacity_bytes")),
                          base::FormatBytes(U64(t, "capacity_bytes")));
    const auto& list = ops[{dev, type}];
    for (size_t i = 0; i < list.size() && i < 3; ++i) {
      const json& o = *list[i];
      line += fmt::format("{}{} {} ({})", i == 0 ? ": " : ", ",
                          o["op"].is_string() ? o["op"].get<std::string>() : "(no op)",
                          base::FormatBytes(U64(o, "bytes")), Pct(U64(o, "bytes"), mine));
    }
    if (list.size() > 3) line += fmt::format(", {} more op(s)", list.size() - 3);
    if (t["largest_free_block_bytes"].is_number())
      line += fmt::format("; largest free block {} per bank",
                          base::FormatBytes(U64(t, "largest_free_block_bytes")));
    out += base::TerminalSafe(line) + "\n";
  }
  return out;
}

int RunSnapshot(const SnapshotOptions& o) {
  json req = {{"cmd", "snapshot"}, {"pid", o.pid}};
  if (o.device >= 0) req["device"] = o.device;
  QueryClient q(o.socket);
  std::string payload, error;
  if (!q.RequestRaw(req.dump(), &payload, &error)) {
    PrintError(error);
    return kExitUsage;
  }
  json reply = json::parse(payload, nullptr, false);
  if (!reply.is_object()) {
    PrintError("ttmemd's snapshot reply is not JSON (is ttmemd older than this ttmem?)");
    return kExitFailure;
  }
  if (reply.contains("error")) {
    PrintError(fmt::format(
        "snapshot of pid {}: {} ('ttmem status' lists the pids that report)", o.pid,
        reply["error"].is_string() ? reply["error"].get<std::string>() : reply["error"].dump()));
    return kExitFailure;
  }
  const std::string text = reply.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  if (!o.output.empty()) {
    std::ofstream f(o.output, std::ios::trunc);
    f << text;
    if (!f.good()) {
      PrintError(
          fmt::format("cannot write {}: check the directory exists and is writable", o.output));
      return kExitFailure;
    }
  }
  const std::string out = o.json ? text : SnapshotSummary(reply);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (!o.json && o.output.empty())
    std::fputs("(-o FILE saves every buffer as JSON; --json prints it)\n", stdout);
  return kExitOk;
}

}  // namespace ttmem::cli
