#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "base/text.h"
#include "cli/commands.h"
#include "cli/fields.h"
#include "cli/format.h"
#include "cli/query.h"
#include "model/requests.h"
#include "model/status_json.h"

namespace ttmem::cli {

bool ShmDirUsable(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
  PrintError(fmt::format(
      "--shm-dir {}: {} (tt-metal publishes its statistics in /dev/shm; give the directory that "
      "holds its tt_device_*_memory files)",
      dir, errno == 0 || S_ISDIR(st.st_mode) ? "not a directory" : std::strerror(errno)));
  return false;
}

void PrintError(const std::string& message) {
  // Messages may quote what others control (file names, daemon replies): never raw.
  std::fprintf(stderr, "ttmem: %s\n", base::TerminalSafe(message).c_str());
}

bool RequestStatus(QueryClient& q, model::Status* out, std::string* error) {
  std::string reply;
  return q.Request(model::Request("status").Text(), &reply, error) &&
         model::FromJsonText(reply, out, error);
}

std::string StatusJsonText(const model::Status& s) {
  // Pretty-printed as before the model existed: keys sorted, two spaces.
  return model::Pretty(model::ToJson(s));
}

int RunStatus(const StatusOptions& o) {
  if (o.list_fields) {
    for (const std::string& f : AllFields()) std::printf("%s\n", f.c_str());
    return kExitOk;
  }
  std::string format = o.json ? "json" : o.format;
  std::vector<std::string> fields;
  std::string error;
  if (!o.query.empty()) {
    if (format == "json") {
      PrintError("--query prints CSV; drop --json/--format json, or use --format csv");
      return kExitUsage;
    }
    if (!ParseFields(o.query, &fields, &error)) {
      PrintError(error);
      return kExitUsage;
    }
    if (format == "table") format = "csv";
  } else if (format.rfind("csv", 0) == 0) {
    fields = DefaultDeviceFields();
  }
  QueryClient q(o.socket);
  bool shm_all_skipped = false;
  for (bool first = true;; first = false) {
    model::Status s;
    if (o.source == "shm") {
      if (first && !ShmDirUsable(o.shm_dir)) return kExitUsage;
      std::vector<std::string> problems;
      s = ShmStatus(o.shm_dir, "/proc", &problems);
      for (const std::string& p : problems)
        if (first) PrintError("skipped " + p);
      // Every region there was unusable: say so with the exit code too (after the table).
      if (!problems.empty() && s.devices.empty()) shm_all_skipped = true;
    } else if (!RequestStatus(q, &s, &error)) {
      PrintError(error);
      return kExitUsage;
    }
    model::KeepDevices(&s, o.devices);
    std::string text;
    if (format == "json")
      text = StatusJsonText(s);
    else if (format == "table")
      text = RenderStatus(s);
    else  // CSV: the header once, also with -l
      text = RenderCsv(s, fields, first && format == "csv");
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (o.loop_seconds <= 0) return shm_all_skipped ? kExitFailure : kExitOk;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.loop_seconds));
    if (format == "table") std::fputs("\n", stdout);
  }
}

}  // namespace ttmem::cli
