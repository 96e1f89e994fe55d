#include "cli/report_trace.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "model/requests.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {
namespace {

// A JSON string (text from clients: escaped, invalid UTF-8 replaced).
std::string Str(const std::string& s) {
  return model::JsonString(s);
}

}  // namespace

TraceWriter::~TraceWriter() {
  if (!f_) return;
  f_.reset();
  std::remove(path_.c_str());
}

bool TraceWriter::Open(const std::string& path, int64_t t0_ns, std::string* error) {
  f_.reset(std::fopen(path.c_str(), "w"));
  if (!f_) {
    *error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  path_ = path;
  t0_ns_ = t0_ns;
  failed_ = std::fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", f_.get()) < 0;
  return true;
}

void TraceWriter::Event(const std::string& json) {
  if (!f_ || failed_) return;
  if (!first_ && std::fputs(",\n", f_.get()) < 0) failed_ = true;
  first_ = false;
  if (std::fputs(json.c_str(), f_.get()) < 0) failed_ = true;
}

void TraceWriter::Counter(int64_t time_ns, uint32_t device, int type, uint64_t device_bytes,
                          int64_t pid, uint64_t process_bytes) {
  devices_.insert(device);
  pids_.insert(pid);
  const double ts = Us(time_ns);
  const std::string type_key = std::string(proto::MemTypeKey(type));
  Event(
      fmt::format(R"({{"name":"{}","ph":"C","ts":{:.3f},"pid":{},"tid":0,"args":{{"bytes":{}}}}})",
                  type_key, ts, DevicePid(device), device_bytes));
  Event(fmt::format(
      R"({{"name":"{} on device {}","ph":"C","ts":{:.3f},"pid":{},"tid":0,"args":{{"bytes":{}}}}})",
      type_key, device, ts, pid, process_bytes));
}

void TraceWriter::CloseRun(int64_t pid, const Run& r) {
  if (r.allocs == 0 || r.op.empty()) return;
  Event(fmt::format(
      R"({{"name":{},"cat":"op","ph":"X","ts":{:.3f},"dur":{:.3f},"pid":{},"tid":1,"args":{{"allocations":{},"bytes":{}}}}})",
      Str(r.op), Us(r.first_ns), std::max(0.001, Us(r.last_ns) - Us(r.first_ns)), pid, r.allocs,
      r.bytes));
}

void TraceWriter::Allocation(int64_t time_ns, int64_t pid, const std::string& op, uint64_t size) {
  pids_.insert(pid);
  Run& r = runs_[pid];
  if (r.allocs != 0 && r.op != op) {
    CloseRun(pid, r);
    r = Run{};
  }
  if (r.allocs == 0) {
    r.op = op;
    r.first_ns = time_ns;
  }
  r.last_ns = time_ns;
  ++r.allocs;
  r.bytes += size;
}

void TraceWriter::Mark(int64_t time_ns, int64_t pid, const std::string& name) {
  pids_.insert(pid);
  Event(fmt::format(R"({{"name":{},"cat":"mark","ph":"i","s":"p","ts":{:.3f},"pid":{},"tid":1}})",
                    Str(name), Us(time_ns), pid));
}

bool TraceWriter::Finish(const std::map<uint32_t, std::string>& device_arch,
                         const std::map<int64_t, std::string>& process_name, std::string* error) {
  if (!f_) return true;
  for (const auto& [pid, r] : runs_) CloseRun(pid, r);
  for (uint32_t d : devices_) {
    auto a = device_arch.find(d);
    const std::string name =
        fmt::format("device {}{}", d,
                    a != device_arch.end() && !a->second.empty() ? " (" + a->second + ")" : "");
    Event(fmt::format(R"({{"name":"process_name","ph":"M","pid":{},"args":{{"name":{}}}}})",
                      DevicePid(d), Str(name)));
    Event(fmt::format(
        R"({{"name":"process_sort_index","ph":"M","pid":{},"args":{{"sort_index":{}}}}})",
        DevicePid(d), d));
  }
  for (int64_t pid : pids_) {
    auto n = process_name.find(pid);
    Event(fmt::format(
        R"({{"name":"process_name","ph":"M","pid":{},"args":{{"name":{}}}}})", pid,
        Str(fmt::format("pid {}{}", pid, n != process_name.end() ? " " + n->second : ""))));
    Event(fmt::format(
        R"({{"name":"thread_name","ph":"M","pid":{},"tid":1,"args":{{"name":"ops"}}}})", pid));
  }
  if (!failed_ && std::fputs("\n]}\n", f_.get()) < 0) failed_ = true;
  if (std::fclose(f_.release()) != 0) failed_ = true;
  if (failed_) *error = fmt::format("cannot write {}: {}", path_, std::strerror(errno));
  return !failed_;
}

}  // namespace ttmem::cli
