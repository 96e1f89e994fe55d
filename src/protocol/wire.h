// wire.h — frames on the control/query socket (protocol version 1). See docs/protocol.md.
//
//   +--------+---------+------+--------+----------+
//   | magic  | version | type | length | reserved |   FrameHeader, 16 bytes, little-endian
//   | u32    | u16     | u16  | u32    | u32      |
//   +--------+---------+------+--------+----------+
//   | payload: `length` bytes                     |
//   +---------------------------------------------+
//
// Client (libttmem) -> daemon: kHello (+ the region memfd, and the state memfd of an earlier
// daemon if it has one, via SCM_RIGHTS), kDeviceInfo, kSetTag, kSync..., kSyncEnd.
// Daemon -> client: kHelloAck (+ the wake eventfd and the state memfd), kSyncAck.
// Query (ttmem CLI, scripts) -> daemon: kQuery with a JSON request; reply kQueryReply with JSON.
#ifndef TTMEM_PROTOCOL_WIRE_H_
#define TTMEM_PROTOCOL_WIRE_H_

#include <cstddef>
#include <cstdint>

namespace ttmem::proto {

inline constexpr uint32_t kFrameMagic = 0x464d5454;  // "TTMF"
inline constexpr uint16_t kWireVersion = 1;
inline constexpr uint32_t kMaxClientPayload = 64 * 1024;         // anything larger is hostile
inline constexpr uint32_t kMaxReplyPayload = 256 * 1024 * 1024;  // query replies

enum class FrameType : uint16_t {
  kHello = 1,
  kHelloAck = 2,
  kDeviceInfo = 3,
  kSetTag = 4,
  kSyncBegin = 8,  // client -> daemon: SyncBeginBody (exactly; nothing may follow it)
  kSync = 5,       // client -> daemon: SyncRecord[] (the resync log)
  kSyncEnd = 6,    // client -> daemon: SyncEndBody; the daemon answers kSyncAck
  kSyncAck = 7,    // daemon -> client: SyncEndBody (the same sequence number)
  kOpName = 9,     // client -> daemon: OpNameBody (a scope name's id, once per connection)
  kQuery = 16,
  kQueryReply = 17,
  kEvents = 18,  // daemon -> event subscriber: EventRecord[] (binary)
  kError = 255,
};

struct FrameHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t type;
  uint32_t length;
  uint32_t reserved;
};
static_assert(sizeof(FrameHeader) == 16);

struct HelloBody {
  uint32_t protocol_version;  // kProtocolVersion of shm_abi.h
  uint32_t flags;             // 0
  uint64_t region_size;       // must equal the memfd's size and RegionSize(...)
  char comm[16];              // informational; the daemon reads /proc/PID/comm itself
};
static_assert(sizeof(HelloBody) == 32);

enum class HelloStatus : uint32_t {
  kOk = 0,
  kVersionMismatch = 1,
  kBadRegion = 2,
  kRefused = 3,
};

struct HelloAckBody {
  uint32_t status;  // HelloStatus
  uint32_t daemon_protocol_version;
};
static_assert(sizeof(HelloAckBody) == 8);

inline constexpr int kMemTypeCount = 7;
inline constexpr uint32_t kMaxDevices = 1024;                   // == TTMEM_MAX_DEVICES
inline constexpr uint64_t kMaxBufferBytes = uint64_t{1} << 40;  // == TTMEM_MAX_BUFFER_BYTES
inline constexpr uint32_t kDeviceUniqueIdValid = 1;             // == TTMEM_DEVICE_UNIQUE_ID_VALID
inline constexpr uint32_t kDeviceTopologyValid = 2;             // == TTMEM_DEVICE_TOPOLOGY_VALID

struct DeviceInfoBody {  // mirrors ttmem_device_info, fixed layout
  uint32_t device;
  uint32_t num_cores;
  uint64_t unique_id;
  char arch[32];
  uint64_t capacity_bytes[kMemTypeCount];
  // Since 0.2; a 104-byte body (without these) is still accepted, meaning "unknown".
  uint32_t bank_count[kMemTypeCount];
  uint32_t flags;  // since 0.3: TTMEM_DEVICE_UNIQUE_ID_VALID (0 in older clients)
  uint64_t bank_base[kMemTypeCount];
  // Since 0.4, with kDeviceTopologyValid: where the chip sits. Sent only when known, so that a
  // daemon before 0.4 (which knows the 104- and 192-byte bodies) still takes the others.
  int32_t pcie_id;
  uint32_t mmio_device;
  uint64_t board_id;
  char board_type[16];
};
static_assert(sizeof(DeviceInfoBody) == 224);
inline constexpr size_t kDeviceInfoBodyV1Size = 104;
inline constexpr size_t kDeviceInfoBodyV2Size = 192;
// What a daemon acks in `daemon_protocol_version`: the region layout it reads is still
// kProtocolVersion (2), and from 3 on it also takes the 224-byte device body (0.4). A daemon
// before 0.4 acks 2 and disconnects a client that sends 224 bytes.
inline constexpr uint32_t kDaemonWireVersion = 3;
inline constexpr uint32_t kTopologyWireVersion = 3;
// The bytes of a body to send to a daemon that acked `daemon_version`: the topology only when it
// is known and the daemon takes it.
inline uint32_t DeviceInfoBodySize(const DeviceInfoBody& b, uint32_t daemon_version) {
  return (b.flags & kDeviceTopologyValid) != 0 && daemon_version >= kTopologyWireVersion
             ? sizeof(DeviceInfoBody)
             : static_cast<uint32_t>(kDeviceInfoBodyV2Size);
}

// The event stream ({"cmd": "events"}; docs/protocol.md): what the daemon applied, in the order
// it applied it, as kEvents frames of these records. Little-endian, packed as laid out.
enum class EventKind : uint8_t {
  kAlloc = 1,  // an allocation
  kFree = 2,   // a free (size/type/address of the freed buffer; 0/kNoType when the id was unknown)
  kLive = 3,   // live when the stream began (or restored from a daemon restart)
  kReclaim = 4,  // live when its process ended: freed by the daemon (a leak)
  kMark = 5,     // ttmem_mark: buffer_id is the mark's name id, op the scope it was made in
};
inline constexpr uint8_t kEventNoType = 0xFF;
inline constexpr uint16_t kEventFlagHooked = 0x1;  // capture estimate, no device memory
inline constexpr uint16_t kEventFlagResync = 0x2;  // re-sent by the client's resync log
struct EventRecord {
  uint64_t time_ns;  // CLOCK_REALTIME when the daemon applied it
  int32_t pid;
  uint32_t device;
  uint8_t type;  // ttmem_mem_type, or kEventNoType
  uint8_t kind;  // EventKind
  uint16_t flags;
  uint32_t op;  // the allocation's op (its process's OpNameBody id; 0: none); a mark's name id
  uint64_t buffer_id;
  uint64_t address;
  uint64_t size;
};
static_assert(sizeof(EventRecord) == 48);

// One event of the resync log (kSync). The log is compacted per (device, buffer_id): frees of ids
// the log does not hold come first, then the allocations still live, so applying the records of
// one round in order gives the exact state.
struct SyncRecord {
  uint64_t buffer_id;
  uint64_t address;
  uint64_t size;
  uint32_t device;
  uint8_t kind;  // RecordKind (kAlloc, kFree; marks are not kept in the log)
  uint8_t type;
  uint16_t flags;  // bits 0-3: Record::flags; bits 4-15: the op (Record::op, < 4096)
};
inline constexpr int kSyncOpShift = 4;
static_assert(sizeof(SyncRecord) == 32);

// A resync round: the client took its log and switched back to its rings at one instant, after
// recording each ring's head in RingControl::hold and the round in RegionHeader::sync_hold_seq.
// The daemon applies ring records below the holds first, then the log (kSync), and ring records
// from the holds on only after kSyncEnd.
struct SyncBeginBody {
  uint64_t sequence;  // == RegionHeader::sync_hold_seq
  uint64_t reserved;
};
static_assert(sizeof(SyncBeginBody) == 16);

struct SyncEndBody {
  uint64_t sequence;
  uint64_t events;  // events this round stands for (before compaction), for the drop count
};
static_assert(sizeof(SyncEndBody) == 16);

struct SetTagBody {
  char tag[64];  // NUL-padded
};
static_assert(sizeof(SetTagBody) == 64);

// A scope name the client interned (ttmem_scope_push / ttmem_mark): records carry `id` as their
// op. Sent before the first record that uses it when it can be, else soon after; the daemon
// shows an id whose name has not come yet as "op#ID". Ids are 1 .. kMaxOpNames, names 1 ..
// kMaxOpName bytes (untrusted text, shown escaped).
inline constexpr uint32_t kMaxOpNames = 4095;  // == TTMEM_MAX_SCOPE_NAMES
inline constexpr uint32_t kMaxOpName = 127;    // == TTMEM_MAX_SCOPE_NAME
struct OpNameBody {
  uint32_t id;
  uint32_t length;
  char name[128];  // `length` bytes, NUL-padded
};
static_assert(sizeof(OpNameBody) == 136);

}  // namespace ttmem::proto

#endif  // TTMEM_PROTOCOL_WIRE_H_
