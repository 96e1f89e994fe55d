// event_stream.h — `{"cmd": "events"}`: every applied record, and process and device notices,
// to the peers that subscribe (docs/protocol.md, the event stream).
//
// Sessions report what they apply through the EventSink side: Arm() before a drain (records are
// kept only while anyone subscribes), Flush() after, which sends them to every subscriber (or
// the one process a subscriber follows). A notice goes after the events before it. What does not
// fit a subscriber's outbox allowance is dropped for that peer and counted; a "lost" notice says
// how many once it has room again.
#ifndef TTMEM_DAEMON_EVENT_STREAM_H_
#define TTMEM_DAEMON_EVENT_STREAM_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/connection.h"
#include "daemon/session.h"
#include "daemon/status_builder.h"
#include "ledger/ledger.h"
#include "model/notices.h"
#include "protocol/wire.h"

namespace ttmem::daemon {

// The {"event": "device", ...} notice of an announcement.
model::DeviceNotice DeviceNoticeOf(uint32_t device, const ledger::DeviceInfo& info);
// The {"event": "process_start", ...} notice of a process (`existing`: it was there before the
// subscription).
model::ProcessStartNotice ProcessStartNoticeOf(pid_t pid, const ProcessMeta& meta, uint64_t time_ns,
                                               bool existing);

class EventStream final : public EventSink {
 public:
  static constexpr size_t kEventsPerFrame = 16384;  // 768 KiB frames
  static constexpr uint32_t kMaxStreamsPerUid = 8;

  explicit EventStream(Connections& conns);

  bool any() const { return subscribers_ != 0; }

  // EventSink: records are kept between Arm and Flush while anyone subscribes.
  bool tapping() const override { return armed_; }
  void Applied(const proto::EventRecord& record) override;
  void Arm();
  void Flush();

  // A JSON notice to the subscribers of `pid` (-1: all), after the events before it. `ops`: it
  // names the process's ops (op_name), which go only to its own user and root.
  void Notice(const model::Notice& notice, pid_t pid, bool ops = false);
  // The uid of a reporting process (nullopt: unknown). A stream of a user other than root gets
  // other users' events without their ops (op 0, no op_name notices): per-buffer "why" stays with
  // its user; sizes and addresses stay, for a recording of a shared device (docs/security.md).
  std::function<std::optional<uid_t>(pid_t)> owner;
  // A process's live buffers as events of `kind` (kLive after a reconnect, kReclaim at its end).
  void LiveSet(const ledger::Ledger& ledger, pid_t pid, proto::EventKind kind);

  // Makes `c` a subscriber: the "start" notice, the devices, the processes and their live sets
  // (a snapshot), then the stream. Refuses (an error reply) a second stream on one connection
  // and more than kMaxStreamsPerUid per uid.
  void Subscribe(Connection& c, pid_t pid, const ledger::Ledger& ledger,
                 const std::map<pid_t, ProcessMeta>& meta);
  // {"cmd": "events_flush"}: the "flushed" notice after everything queued for `c`.
  void Flushed(Connection& c);
  // A subscriber closes.
  void Unsubscribe(Connection& c);

 private:
  bool SeesOps(const Connection& c, pid_t pid) const;  // root, or pid's own user
  bool Foreign(const Connection& c, pid_t pid) const;  // not root; pid is known another user's
  void AppendEvents(Connection& c, const proto::EventRecord* recs, size_t n);
  // False when it did not fit (counted in notices_lost unless `essential`).
  bool AppendNotice(Connection& c, const std::string& text, bool essential = false);
  void TellLost(Connection& c);  // the "lost" notice, when there is news and room

  Connections& conns_;
  std::vector<proto::EventRecord> tap_;
  uint64_t tap_time_ns_ = 0;
  bool armed_ = false;
  uint32_t subscribers_ = 0;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_EVENT_STREAM_H_
