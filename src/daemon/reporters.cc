#include "daemon/reporters.h"
#include "protocol/frames.h"

#include <pwd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/container.h"
#include "base/text.h"
#include "base/user.h"
#include "daemon/log.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace ttmem::daemon {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char buf[4096];
  f.read(buf, sizeof(buf));
  return std::string(buf, static_cast<size_t>(f.gcount()));
}

ProcessMeta ReadProcessMeta(pid_t pid, uid_t uid) {
  ProcessMeta m;
  m.uid = uid;
  m.name = ReadSmallFile(fmt::format("/proc/{}/comm", pid));
  while (!m.name.empty() && (m.name.back() == '\n' || m.name.back() == '\0')) m.name.pop_back();
  m.cmdline = ReadSmallFile(fmt::format("/proc/{}/cmdline", pid));
  while (!m.cmdline.empty() && m.cmdline.back() == '\0') m.cmdline.pop_back();
  for (char& ch : m.cmdline)
    if (ch == '\0') ch = ' ';
  // A process names itself (comm, argv): valid UTF-8 from here on, for every JSON writer, label
  // and recording downstream.
  m.name = base::ValidUtf8(m.name);
  m.cmdline = base::ValidUtf8(m.cmdline);
  m.user = base::UserName(uid);
  m.started_unix_ms = base::UnixMs();
  // Containers: the pid it has in its own namespace, and which container (issue 18).
  if (auto ns = base::InnermostPid(ReadSmallFile(fmt::format("/proc/{}/status", pid)));
      ns && *ns != pid)
    m.ns_pid = ns;
  m.container = base::ContainerFromCgroup(ReadSmallFile(fmt::format("/proc/{}/cgroup", pid)));
  // A container the kernel's facts do not back (no pid namespace of its own, or a cgroup
  // directory a user owns: delegated, named at will) is shown as claimed, never as the container.
  if (m.container)
    m.container->claimed =
        base::ContainerClaimed(*m.container, m.ns_pid.has_value(), "/sys/fs/cgroup");
  return m;
}

// The peer's pidfd straight from the socket (no pid-reuse window); pidfd_open as a fallback.
base::UniqueFd PeerPidfd(int sock, pid_t pid) {
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
    return base::UniqueFd(pidfd);
  return base::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

bool SameDeviceInfo(const ledger::DeviceInfo& a, const ledger::DeviceInfo& b) {
  return a.arch == b.arch && a.unique_id == b.unique_id && a.unique_id_valid == b.unique_id_valid &&
         a.num_cores == b.num_cores && a.capacity_bytes == b.capacity_bytes &&
         a.bank_count == b.bank_count && a.bank_base == b.bank_base && a.topology == b.topology;
}

// A client's text (arch, tag, op and mark names) as kept: up to its first NUL, control bytes
// replaced, valid UTF-8 (invalid sequences become U+FFFD).
std::string SafeText(const char* p, size_t n) {
  std::string s(p, strnlen(p, n));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) c = '?';
  return base::ValidUtf8(s);
}

// An announcement's topology, when it has one that can be true: a PCIe id the driver could have
// given (0 to 1023) and an MMIO chip among the devices. Anything else reads as unknown.
std::optional<ledger::Topology> TopologyOf(const proto::DeviceInfoBody& b, size_t size) {
  if (size < sizeof(proto::DeviceInfoBody) || (b.flags & proto::kDeviceTopologyValid) == 0 ||
      b.pcie_id < 0 || b.pcie_id >= 1024 || b.mmio_device >= proto::kMaxDevices)
    return std::nullopt;
  return ledger::Topology{static_cast<uint32_t>(b.pcie_id), b.mmio_device, b.board_id,
                          SafeText(b.board_type, sizeof(b.board_type))};
}

// The hello ack: sent before the connection is refused or accepted.
bool Ack(const Connection& c, proto::HelloStatus status, int wake_fd = -1, int state_fd = -1) {
  proto::HelloAckBody ack{static_cast<uint32_t>(status), proto::kDaemonWireVersion};
  return proto::SendFrame(c.fd.get(), proto::FrameType::kHelloAck, &ack, sizeof(ack), wake_fd,
                          state_fd);
}

}  // namespace

std::string Reporters::Describe(const Connection& c) const {
  auto it = meta_.find(c.cred.pid);
  // The name is the process's own choice (comm): the log may be a terminal.
  std::string name = it != meta_.end() ? base::TerminalSafe(it->second.name) : "";
  return fmt::format("pid {} ({}) uid {}", c.cred.pid, name.empty() ? "?" : name, c.cred.uid);
}

bool Reporters::OnHello(Connection& c, proto::Frame& f) {
  if (f.payload.size() != sizeof(proto::HelloBody)) {
    LogWarn("disconnecting {}: hello of {} bytes", Describe(c), f.payload.size());
    return false;
  }
  proto::HelloBody hello;
  std::memcpy(&hello, f.payload.data(), sizeof(hello));
  if (hello.protocol_version < proto::kMinProtocolVersion ||
      hello.protocol_version > proto::kProtocolVersion) {
    LogWarn("refusing {}: client protocol {} (daemon speaks {} to {}); upgrade libttmem or ttmemd",
            Describe(c), hello.protocol_version, proto::kMinProtocolVersion,
            proto::kProtocolVersion);
    Ack(c, proto::HelloStatus::kVersionMismatch);  // refused either way: a lost ack changes nothing
    return false;
  }
  std::string error;
  auto session = Session::Create(c.cred.pid, std::move(f.passed_fd), hello, &events_, &error);
  if (!session) {
    LogWarn("refusing {}: {}", Describe(c), error);
    Ack(c, proto::HelloStatus::kBadRegion);
    return false;
  }
  // The same pid again (exec, or a reconnect racing its own hang-up): the old session is over.
  if (auto old = session_by_pid_.find(c.cred.pid); old != session_by_pid_.end())
    loop_.Close(old->second, "replaced by a new connection from the same process", false);
  ledger_.AddProcess(c.cred.pid);
  uint64_t restored = 0;
  std::string note;
  session->SetAllowance(Allowance(c.cred.uid), max_live_per_uid_);
  if (!session->AttachState(std::move(f.passed_fd2), ledger_, &restored, &note, &error)) {
    LogWarn("refusing {}: {}", Describe(c), error);
    ledger_.RemoveProcess(c.cred.pid, ledger::Retire::kNo);
    Ack(c, proto::HelloStatus::kRefused);
    return false;
  }
  if (!note.empty()) LogWarn("client {}: {}", Describe(c), note);
  c.client.pidfd = PeerPidfd(c.fd.get(), c.cred.pid);
  if (c.client.pidfd) loop_.WatchPidfd(c);
  c.role = Role::kClient;
  c.client.session = std::move(session);
  session_by_pid_[c.cred.pid] = c.id;
  ProcessMeta meta = ReadProcessMeta(c.cred.pid, c.cred.uid);
  meta.tag = meta_[c.cred.pid].tag;
  meta.version = ++meta_version_;
  // Kept first: the notices below go to subscribers by the process's uid (EventStream::owner).
  ProcessMeta& kept = meta_[c.cred.pid] = std::move(meta);
  if (events_.any()) {
    events_.Notice(ProcessStartNoticeOf(c.cred.pid, kept, base::RealtimeNs(), false), c.cred.pid);
    if (restored != 0) events_.LiveSet(ledger_, c.cred.pid, proto::EventKind::kLive);
  }
  if (!Ack(c, proto::HelloStatus::kOk, loop_.wake_fd(), c.client.session->state_fd())) return false;
  if (restored != 0)
    LogInfo("client {} reconnected; restored {} live buffers", Describe(c), restored);
  else
    LogInfo("client {} connected", Describe(c));
  loop_.WantFastTick();
  return true;
}

bool Reporters::OnFrame(Connection& c, proto::Frame& f) {
  if (f.passed_fd || f.passed_fd2) {
    LogWarn("disconnecting {}: unexpected file descriptor", Describe(c));
    return false;
  }
  const auto type = static_cast<proto::FrameType>(f.header.type);
  switch (type) {
    case proto::FrameType::kDeviceInfo:
      return OnDeviceInfo(c, f);
    case proto::FrameType::kSetTag: {
      if (f.payload.size() != sizeof(proto::SetTagBody)) {
        LogWarn("disconnecting {}: tag of {} bytes", Describe(c), f.payload.size());
        return false;
      }
      ProcessMeta& m = meta_[c.cred.pid];
      m.tag = SafeText(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
      m.version = ++meta_version_;
      return true;
    }
    case proto::FrameType::kOpName:
      return OnOpName(c, f);
    case proto::FrameType::kSyncBegin:
    case proto::FrameType::kSync:
    case proto::FrameType::kSyncEnd:
      return OnSync(c, type, f);
    default:
      LogWarn("disconnecting {}: unexpected frame type {}", Describe(c), f.header.type);
      return false;
  }
}

// A scope name: id and length in range, no NUL inside; control bytes become '?'. At most
// kMaxOpNames per process (kMaxOpName bytes each: 0.5 MiB at most).
bool Reporters::OnOpName(Connection& c, const proto::Frame& f) {
  proto::OpNameBody b;
  if (f.payload.size() != sizeof(b)) {
    LogWarn("disconnecting {}: op name of {} bytes", Describe(c), f.payload.size());
    return false;
  }
  std::memcpy(&b, f.payload.data(), sizeof(b));
  if (b.id == 0 || b.id > proto::kMaxOpNames || b.length == 0 || b.length > proto::kMaxOpName ||
      strnlen(b.name, b.length) != b.length) {
    LogWarn("disconnecting {}: op name id {} of {} bytes (ids 1 to {}, 1 to {} bytes, no NUL)",
            Describe(c), b.id, b.length, proto::kMaxOpNames, proto::kMaxOpName);
    return false;
  }
  ProcessMeta& m = meta_[c.cred.pid];
  if (m.op_names.size() < b.id) m.op_names.resize(b.id);
  std::string name = SafeText(b.name, b.length);
  if (events_.any())
    events_.Notice(model::OpNameNotice{c.cred.pid, b.id, name}, c.cred.pid, /*ops=*/true);
  m.op_names[b.id - 1] = std::move(name);
  return true;
}

bool Reporters::OnDeviceInfo(Connection& c, const proto::Frame& f) {
  if (f.payload.size() != sizeof(proto::DeviceInfoBody) &&
      f.payload.size() != proto::kDeviceInfoBodyV2Size &&
      f.payload.size() != proto::kDeviceInfoBodyV1Size) {
    LogWarn("disconnecting {}: device info of {} bytes", Describe(c), f.payload.size());
    return false;
  }
  proto::DeviceInfoBody b{};  // a v1 body leaves the bank geometry zero, v2 the topology: unknown
  std::memcpy(&b, f.payload.data(), f.payload.size());
  if (b.device >= proto::kMaxDevices) {
    LogWarn("disconnecting {}: device info for device {}", Describe(c), b.device);
    return false;
  }
  ledger::DeviceInfo info;
  info.arch = SafeText(b.arch, sizeof(b.arch));
  info.unique_id = b.unique_id;
  info.unique_id_valid = (b.flags & proto::kDeviceUniqueIdValid) != 0 || b.unique_id != 0;
  info.num_cores = b.num_cores;
  info.topology = TopologyOf(b, f.payload.size());
  for (int t = 0; t < proto::kNumMemTypes; ++t) {
    info.capacity_bytes[t] = b.capacity_bytes[t];
    // Geometry is only a drawing aid; anything that cannot describe a real bank is ignored.
    const bool sane = b.bank_count[t] != 0 && b.bank_count[t] <= (1u << 20) &&
                      b.capacity_bytes[t] / b.bank_count[t] != 0 &&
                      b.bank_base[t] <= UINT64_MAX - b.capacity_bytes[t];
    info.bank_count[t] = sane ? b.bank_count[t] : 0;
    info.bank_base[t] = sane ? b.bank_base[t] : 0;
  }
  // Facts announced by one uid are not replaced by another while their announcer lives: a
  // disagreement is an anomaly, counted; the first announcement stands.
  auto& dev = ledger_.devices();
  auto existing = dev.find(b.device);
  auto who = announcer_.find(b.device);
  if (existing != dev.end() && existing->second.info && who != announcer_.end() &&
      who->second.first != c.cred.uid && session_by_pid_.count(who->second.second) != 0) {
    if (!SameDeviceInfo(*existing->second.info, info)) {
      ++device_info_conflicts_;
      if ((device_info_conflicts_ & (device_info_conflicts_ - 1)) == 0)
        LogWarn(
            "{} announced device {} differently from uid {} (pid {}), whose announcement stands "
            "({} such conflicts so far)",
            Describe(c), b.device, who->second.first, who->second.second, device_info_conflicts_);
    }
    return true;
  }
  announcer_[b.device] = {c.cred.uid, c.cred.pid};
  if (existing != dev.end() && existing->second.info &&
      SameDeviceInfo(*existing->second.info, info))
    return true;  // nothing new: no notice, no change
  if (events_.any()) events_.Notice(DeviceNoticeOf(b.device, info), -1);
  ledger_.SetDeviceInfo(b.device, std::move(info));
  return true;
}

bool Reporters::OnSync(Connection& c, proto::FrameType type, const proto::Frame& f) {
  Session& session = *c.client.session;
  std::string error;
  if (type == proto::FrameType::kSyncEnd) {
    if (f.payload.size() != sizeof(proto::SyncEndBody)) error = "sync end of wrong size";
    if (!error.empty() || !session.EndSync(ledger_, &error)) {
      LogWarn("disconnecting {}: {}", Describe(c), error);
      return false;
    }
    conns_.Reply(c, proto::FrameType::kSyncAck,
                 std::string(reinterpret_cast<const char*>(f.payload.data()), f.payload.size()));
    return true;
  }
  DrainStats stats;
  events_.Arm();
  session.SetAllowance(Allowance(c.cred.uid), max_live_per_uid_);
  const bool ok =
      type == proto::FrameType::kSyncBegin
          ? session.BeginSync(ledger_, f.payload.data(), f.payload.size(), &stats, &error)
          : session.ApplySync(ledger_, f.payload.data(), f.payload.size(), &stats, &error);
  events_applied_ += stats.applied;
  events_.Flush();
  if (!ok) LogWarn("disconnecting {}: {}", Describe(c), error);
  return ok;
}

void Reporters::End(Connection& c, bool retire) {
  if (!c.client.session) return;
  Session& session = *c.client.session;
  // Drain what the client published before it went away, then reclaim everything it held.
  DrainStats stats;
  std::string error;
  events_.Arm();
  session.SetAllowance(Allowance(c.cred.uid), max_live_per_uid_);
  if (!session.DrainAllPublished(ledger_, kMaxRecordsPerDrain, &stats, &error))
    LogWarn("final drain of {}: {}", Describe(c), error);
  events_applied_ += stats.applied;
  events_.Flush();
  if (events_.any() && retire)
    events_.LiveSet(ledger_, c.cred.pid, proto::EventKind::kReclaim);  // its leaks
  const uint64_t reclaimed =
      ledger_.RemoveProcess(c.cred.pid, retire ? ledger::Retire::kYes : ledger::Retire::kNo);
  if (events_.any() && retire)
    events_.Notice(model::ProcessEndNotice{c.cred.pid, base::RealtimeNs(), reclaimed}, c.cred.pid);
  LogInfo("client {} gone; reclaimed {} bytes", Describe(c), reclaimed);
  session_by_pid_.erase(c.cred.pid);
  meta_.erase(c.cred.pid);
  c.client.session.reset();
}

uint64_t Reporters::LiveOf(pid_t pid) const {
  auto p = ledger_.processes().find(pid);
  return p == ledger_.processes().end() ? 0 : p->second.live.size();
}

uint64_t Reporters::Allowance(uid_t uid) const {
  uint64_t live = 0;
  for (const auto& [pid, id] : session_by_pid_) {
    const Connection* c = conns_.Find(id);
    if (c != nullptr && c->cred.uid == uid) live += LiveOf(pid);
  }
  return live >= max_live_per_uid_ ? 0 : max_live_per_uid_ - live;
}

Reporters::Drained Reporters::DrainAll() {
  Drained out;
  // Allocations applied now are stamped with the seconds since the daemon started, plus one.
  static const uint64_t kStartNs = base::MonotonicNs();
  ledger_.SetNowSeconds(static_cast<uint32_t>(
      std::min<uint64_t>((base::MonotonicNs() - kStartNs) / 1000000000 + 1, UINT32_MAX)));
  events_.Arm();
  // Each uid's live buffers, once; then kept current as sessions drain.
  std::unordered_map<uid_t, uint64_t> live_by_uid;
  std::vector<Connection*> sessions;
  sessions.reserve(session_by_pid_.size());
  for (const auto& [pid, id] : session_by_pid_) {
    Connection* c = conns_.Find(id);
    if (c == nullptr || !c->client.session || c->doomed) continue;
    sessions.push_back(c);
    live_by_uid[c->cred.uid] += LiveOf(pid);
  }
  // The tick's budget, from a rotating start so that every session gets its turn.
  uint64_t budget = kMaxRecordsPerTick;
  const size_t n = sessions.size();
  for (size_t k = 0; k < n; ++k) {
    Connection& c = *sessions[(drain_cursor_ + k) % n];
    if (budget == 0) {
      out.more = out.backlog = true;
      break;
    }
    Session& session = *c.client.session;
    uint64_t& uid_live = live_by_uid[c.cred.uid];
    session.SetAllowance(uid_live >= max_live_per_uid_ ? 0 : max_live_per_uid_ - uid_live,
                         max_live_per_uid_);
    const uint64_t live_before = LiveOf(c.cred.pid);
    DrainStats stats;
    std::string error;
    if (!session.Drain(ledger_, /*final=*/false, std::min(budget, kMaxRecordsPerDrain), &stats,
                       &error)) {
      LogWarn("disconnecting {}: {}", Describe(c), error);
      out.broken.push_back(c.id);
    }
    uid_live = uid_live - live_before + LiveOf(c.cred.pid);
    budget -= std::min(budget, stats.applied);
    events_applied_ += stats.applied;
    out.more = out.more || session.has_pending();
    out.backlog = out.backlog || session.capped();
  }
  drain_cursor_ = n == 0 ? 0 : (drain_cursor_ + 1) % n;
  events_.Flush();
  return out;
}

void Reporters::SetWakeWanted(bool want) {
  for (const auto& [pid, id] : session_by_pid_)
    if (Connection* c = conns_.Find(id); c != nullptr && c->client.session)
      c->client.session->SetWakeWanted(want);
}

}  // namespace ttmem::daemon
