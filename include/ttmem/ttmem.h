/*
 * ttmem.h — libttmem, the client side of ttmem (Tenstorrent device-memory tracking).
 *
 * A runtime (tt-metal, or ttmem's simulator) calls these functions on every device allocation and
 * free. The events go to the host's ttmemd daemon, which shows who holds how much memory on which
 * device (`ttmem status`, `ttmem top`).
 *
 * Usage:
 *
 *     #include <ttmem/ttmem.h>
 *
 *     ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
 *     info.device = 0;
 *     snprintf(info.arch, sizeof info.arch, "wormhole_b0");
 *     info.capacity_bytes[TTMEM_DRAM] = 12ull << 30;
 *     ttmem_device_announce(&info);
 *
 *     ttmem_alloc(0, TTMEM_DRAM, buffer_id, address, size);
 *     ...
 *     ttmem_free(0, buffer_id);
 *
 * Enabling: everything is off unless the environment variable TT_ALLOC_TRACKING_ENABLED is "1"
 * when the library first initialises (at load time, or at the first call). When off, every call
 * returns after one predictable branch, inlined at the call site (see the end of this file). The
 * daemon's socket is taken from TTMEM_SOCKET, else the default described in ttmem_socket_path().
 *
 * Threading: every function may be called from any thread at any time. The reporting functions
 * (ttmem_alloc, ttmem_free) never block, make no system call and take no lock shared between
 * threads: each thread writes fixed-size records into its own ring in a shared-memory region that
 * the daemon drains. If the daemon is absent, slow or restarting, the application goes on; events
 * that could not be recorded are counted (see ttmem_stats) and shown by the daemon.
 *
 * Identity: a live buffer is (process, device, buffer_id). The process is known to the daemon
 * from the kernel, never from anything the client says. A buffer_id may be reused once it has been
 * freed, also by another thread; the daemon orders each process's events by the process's own
 * event sequence (an atomic counter taken as each event is published: consistent with
 * happens-before across its threads).
 *
 * fork(): the child starts with tracking reset; its events are its own, never the parent's.
 */
#ifndef TTMEM_TTMEM_H_
#define TTMEM_TTMEM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Memory types. 0..4 are tt-metal's BufferType values. */
typedef enum ttmem_mem_type {
  TTMEM_DRAM = 0,
  TTMEM_L1 = 1,
  TTMEM_SYSTEM_MEMORY = 2,
  TTMEM_L1_SMALL = 3,
  TTMEM_TRACE = 4,
  TTMEM_CB = 5,    /* circular buffers placed by the CB allocator (not backed by an L1 buffer) */
  TTMEM_KERNEL = 6 /* program binaries in the kernel-config region of L1 */
} ttmem_mem_type;

#define TTMEM_MEM_TYPE_COUNT 7

/* Largest device id accepted (exclusive). Events for larger ids are dropped and counted. */
#define TTMEM_MAX_DEVICES 1024

/* Largest buffer size accepted, in bytes (1 TiB: more than any device's memory). Allocations
 * reported larger are dropped and counted like other bad arguments; a daemon disconnects a client
 * whose shared memory holds one. Keeps every total far from wrapping. */
#define TTMEM_MAX_BUFFER_BYTES (1ull << 40)

/* Returns 1 when tracking is enabled (TT_ALLOC_TRACKING_ENABLED=1), else 0. Cheap. */
int ttmem_enabled(void);

/* Reports that `size` bytes of memory `type` were allocated on `device` for buffer `buffer_id`
 * at `address` (0 if none or unknown). Never blocks. */
void ttmem_alloc(uint32_t device, ttmem_mem_type type, uint64_t buffer_id, uint64_t address,
                 uint64_t size);

/* Flags for ttmem_alloc_ex. */
#define TTMEM_ALLOC_HOOKED                                            \
  0x1u /* intercepted by a graph-capture hook (tt-metal NO_DISPATCH): \
          uses no device memory; counted apart as a capture estimate */

/* ttmem_alloc with flags (TTMEM_ALLOC_*). Unknown flag bits are dropped and counted. */
void ttmem_alloc_ex(uint32_t device, ttmem_mem_type type, uint64_t buffer_id, uint64_t address,
                    uint64_t size, uint32_t flags);

/* Reports that buffer `buffer_id` on `device` was freed. Never blocks. */
void ttmem_free(uint32_t device, uint64_t buffer_id);

/* The same buffer on several devices at once (tt-metal's MeshBuffer: one allocation at one
 * address on every chip of its mesh): exactly ttmem_alloc_ex / ttmem_free once per device, in one
 * call that takes consecutive ring slots, so each device costs a few stores rather than a call.
 * `devices` holds `count` ids; NULL or a count of 0 reports nothing. Never blocks (since 0.3). */
void ttmem_alloc_devices(const uint32_t* devices, uint32_t count, ttmem_mem_type type,
                         uint64_t buffer_id, uint64_t address, uint64_t size, uint32_t flags);
void ttmem_free_devices(const uint32_t* devices, uint32_t count, uint64_t buffer_id);

/* Waits until the daemon has applied every event this process reported before the call, or
 * until `timeout_ms` has passed. Returns 0 on success; non-zero on timeout, when no daemon is
 * connected in time, or when tracking is disabled. Blocks the calling thread only (sleeps). */
int ttmem_flush(uint32_t timeout_ms);

/* Device announcement: the architecture and per-type capacities of a device as this process
 * sees it, so the daemon can show totals and percentages. Capacity 0 means unknown. */
typedef struct ttmem_device_info {
  uint32_t struct_size; /* sizeof(ttmem_device_info); set by TTMEM_DEVICE_INFO_INIT */
  uint32_t device;      /* the logical id used in ttmem_alloc/ttmem_free */
  uint64_t unique_id;   /* host-wide chip id (tt-metal's chip_unique_id); see flags */
  char arch[32];        /* NUL-terminated, e.g. "wormhole_b0", "blackhole" */
  uint64_t capacity_bytes[TTMEM_MEM_TYPE_COUNT]; /* indexed by ttmem_mem_type */
  uint32_t num_cores;                            /* worker cores (L1 banks), 0 if unknown */
  uint32_t flags; /* TTMEM_DEVICE_* bits; 0 in callers built before 0.3 */
  /* --- since 0.2 (a caller built against the older, 112-byte struct still works) --- */
  /* Bank geometry of each type, for the fragmentation view (0 = unknown): an interleaved buffer
   * of `size` bytes at `address` takes [address, address + ceil(size / bank_count)) in each of
   * `bank_count` banks, whose allocatable range is [bank_base, bank_base + capacity /
   * bank_count). Leave 0 for types whose buffers are not spread over every bank (CB, KERNEL). */
  uint32_t bank_count[TTMEM_MEM_TYPE_COUNT];
  uint32_t reserved1;
  uint64_t bank_base[TTMEM_MEM_TYPE_COUNT];
  /* --- since 0.4: where the chip sits, as tt-metal's cluster descriptor says; read only with
   * TTMEM_DEVICE_TOPOLOGY_VALID in flags (a caller built against the 200-byte struct works) --- */
  int32_t pcie_id;      /* PCIe device id (/dev/tenstorrent/N, TT_METAL_VISIBLE_DEVICES) of the
                         * chip through which this chip is reached: its own when it has one */
  uint32_t mmio_device; /* the logical id of that chip (tt-metal's associated MMIO device) */
  uint64_t board_id;    /* the board it sits on; 0 if unknown */
  char board_type[16];  /* NUL-terminated, e.g. "n150", "n300", "p150", "galaxy"; "" unknown */
} ttmem_device_info;

/* flags: unique_id is the chip's id even when it is 0 (tt-metal gives chip 0 the id 0). Without
 * it, a unique_id of 0 means "unknown", as before 0.3. */
#define TTMEM_DEVICE_UNIQUE_ID_VALID 1u
/* flags: pcie_id, mmio_device, board_id and board_type are set (since 0.4). */
#define TTMEM_DEVICE_TOPOLOGY_VALID 2u

/* The size of the struct before bank geometry was added; still accepted in struct_size. */
#define TTMEM_DEVICE_INFO_V1_SIZE 112
/* The size of the struct before the topology was added (0.2, 0.3); still accepted. */
#define TTMEM_DEVICE_INFO_V2_SIZE 200

/* clang-format off */
#define TTMEM_DEVICE_INFO_INIT \
  { sizeof(ttmem_device_info), 0, 0, {0}, {0}, 0, 0, {0}, 0, {0}, 0, 0, 0, {0} }
/* clang-format on */

/* Announces a device. Copies *info; may be called again to update. Returns 0 on success,
 * non-zero if info is NULL, malformed, or tracking is disabled. Not on the hot path: it may take
 * a process-local lock. Announcements are re-sent when the daemon (re)connects. */
int ttmem_device_announce(const ttmem_device_info* info);

/* Sets a free-form tag for this process (e.g. the model name), shown by `ttmem status`.
 * `tag` is copied (at most 63 bytes kept); NULL clears it. Returns 0 on success. */
int ttmem_set_tag(const char* tag);

/* ---- Why: the op that allocated (since 0.3) ---------------------------------------------------
 * A per-thread stack of scope names: every allocation a thread reports carries the name of its
 * innermost scope as its `op` (ttnn op names when tt-metal's GraphTracker feeds it; any name you
 * choose otherwise), shown by `ttmem status`/`top`, the snapshot and the recording.
 *
 * ttmem_scope_push: enters a scope named `name` (copied; 1 to TTMEM_MAX_SCOPE_NAME bytes, longer
 *   names are cut). Returns 0, or -1 (NULL or empty name, tracking disabled, more than
 *   TTMEM_MAX_SCOPE_NAMES distinct names in this process, or deeper than TTMEM_MAX_SCOPE_DEPTH:
 *   the allocations then carry the deepest scope that fits). Each push needs a pop, -1 or not.
 * ttmem_scope_pop: leaves the innermost scope (nothing when none is open).
 * ttmem_mark: a phase marker ("iteration 3"), in order with the thread's allocations; the
 *   recording and its report show the memory held at each mark. Returns 0 or -1 as push does.
 * Names are interned by the library (a lookup under a process-local lock on push and mark); the
 * allocation path stays one record write. */
#define TTMEM_MAX_SCOPE_NAME 127
#define TTMEM_MAX_SCOPE_NAMES 4095
#define TTMEM_MAX_SCOPE_DEPTH 64
int ttmem_scope_push(const char* name);
void ttmem_scope_pop(void);
int ttmem_mark(const char* name);

/* ---- Out of memory: the forensic snapshot (issue 17) -------------------------------------------
 * ttmem_snapshot: asks ttmemd for this process's snapshot — every live buffer with its type,
 *   address, size and op, its memory by op, and per device and type it uses everyone's usage,
 *   who holds it, the largest free block and the free blocks by size (docs/protocol.md,
 *   "snapshot"). Writes the JSON to `path` (NULL: not written) and the short text summary into
 *   `summary` (NULL or summary_len 0: not kept; cut to summary_len - 1 bytes, NUL-terminated).
 *   `reason` (NULL: none) is kept in the snapshot: the error's text, cut at TTMEM_MAX_REASON
 *   bytes, bytes outside printable ASCII written as '?'. Blocks up to about 5 s: for the moment
 *   a process fails, never the hot path. Returns 0; -1 when tracking is off, ttmemd cannot be
 *   reached, answers with an error, or the file cannot be written (errno-style detail goes to
 *   `summary` when it is given). Thread-safe.
 * ttmem_is_out_of_memory: 1 when `message` is one of tt-metal's allocation failures —
 *   "Out of Memory: Not enough space ..." (the bank allocator) or the circular-buffer errors
 *   "Statically allocated circular buffers ... clash with L1 buffers" / "... beyond max L1
 *   size" — else 0.
 * ttmem_oom_snapshot: what a runtime calls where it catches an error: when `message` is an
 *   out-of-memory error (above) and TTMEM_OOM_SNAPSHOT is not "0", takes the snapshot with
 *   `message` as its reason, writes it to $TTMEM_SNAPSHOT_DIR (default: the current directory) as
 *   ttmem-oom-PID-UNIXMS.json and prints the summary and the file's path on stderr. Returns 1
 *   when the snapshot was written, 0 when `message` is no out-of-memory error (or snapshots are
 *   off), -1 when it could not be taken (said on stderr). */
#define TTMEM_MAX_REASON 1024
int ttmem_snapshot(const char* reason, const char* path, char* summary, size_t summary_len);
int ttmem_is_out_of_memory(const char* message);
int ttmem_oom_snapshot(const char* message);

/* Client-side counters, for diagnostics. */
typedef struct ttmem_stats {
  uint64_t events_written; /* records written to this process's rings */
  uint64_t events_dropped; /* events that missed the rings: while connected (ring full, no free
                            * ring) they went to the resync log and reach the daemon later; a bad
                            * device id or size is refused and lost for good */
  uint32_t connected;      /* 1 while connected to a daemon */
  uint32_t rings_in_use;   /* rings claimed by live threads */
} ttmem_stats;

/* Fills *out. Returns 0, or non-zero if out is NULL. */
int ttmem_get_stats(ttmem_stats* out);

/* Writes the socket path the library uses (TTMEM_SOCKET, else the default: /run/ttmem/ttmemd.sock
 * for root or when /run/ttmem exists, else $XDG_RUNTIME_DIR/ttmemd.sock, else
 * /tmp/ttmem-<uid>/ttmemd.sock) into buf (NUL-terminated, truncated to len). Returns the full
 * length of the path. */
uint32_t ttmem_socket_path(char* buf, uint32_t len);

/* ---- The disabled fast path (internal, not API) ----------------------------------------------
 * ttmem_internal_off becomes 1 once the library has found tracking disabled. With GCC or Clang the
 * macros below turn ttmem_alloc, ttmem_alloc_ex and ttmem_free into a load and a branch at the call
 * site, so a disabled process does not even call into the library (under 1 ns per call). The
 * exported functions are unchanged: taking their address, `(ttmem_alloc)(...)` and dlsym() reach
 * them directly. Define TTMEM_NO_INLINE before including this header to turn the macros off. */
extern int ttmem_internal_off;

#if !defined(TTMEM_NO_INLINE) && (defined(__GNUC__) || defined(__clang__))
static __inline__ void ttmem_internal_alloc(uint32_t device, ttmem_mem_type type,
                                            uint64_t buffer_id, uint64_t address, uint64_t size) {
  if (__builtin_expect(__atomic_load_n(&ttmem_internal_off, __ATOMIC_RELAXED), 0)) return;
  (ttmem_alloc)(device, type, buffer_id, address, size);
}
static __inline__ void ttmem_internal_alloc_ex(uint32_t device, ttmem_mem_type type,
                                               uint64_t buffer_id, uint64_t address, uint64_t size,
                                               uint32_t flags) {
  if (__builtin_expect(__atomic_load_n(&ttmem_internal_off, __ATOMIC_RELAXED), 0)) return;
  (ttmem_alloc_ex)(device, type, buffer_id, address, size, flags);
}
static __inline__ void ttmem_internal_free(uint32_t device, uint64_t buffer_id) {
  if (__builtin_expect(__atomic_load_n(&ttmem_internal_off, __ATOMIC_RELAXED), 0)) return;
  (ttmem_free)(device, buffer_id);
}
#define ttmem_alloc(device, type, buffer_id, address, size) \
  ttmem_internal_alloc((device), (type), (buffer_id), (address), (size))
#define ttmem_alloc_ex(device, type, buffer_id, address, size, flags) \
  ttmem_internal_alloc_ex((device), (type), (buffer_id), (address), (size), (flags))
#define ttmem_free(device, buffer_id) ttmem_internal_free((device), (buffer_id))
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TTMEM_TTMEM_H_ */
