// top_state.h — what `ttmem top` shows, without a terminal (issue 27): the state the views draw,
// the process rows after the filter and sort, the history chart's points, the daemon's replies
// taken into the state (a refused or malformed one included), and the selection's moves. Pure and
// unit-tested (top_state_test.cc); top.cc maps keys to it and draws it with curses.
#ifndef TTMEM_CLI_TOP_STATE_H_
#define TTMEM_CLI_TOP_STATE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "model/replies.h"
#include "model/status.h"

namespace ttmem::cli::top {

enum class View { kMain, kDetail, kHelp, kFragmentation };
enum Sort { kByPid, kByUser, kByDram, kByL1, kByCb, kByTrace, kByTotal, kSortCount };
const char* const kSortNames[] = {"PID", "USER", "DRAM", "L1", "CB", "TRACE", "TOTAL"};

struct ProcRow {
  int64_t pid = 0;
  std::string user, name;
  uint64_t uid = 0;
  bool uid_known = false;
  bool from_file = false;  // known only from tt-metal's statistics: never signalled
  std::string devices;
  uint64_t dram = 0, l1 = 0, cb = 0, trace = 0, total = 0;
};

struct State {
  TopOptions opt;
  model::Status status;  // the last document, devices filtered
  bool have = false;
  bool connected = false;
  std::string error;
  View view = View::kMain;
  Sort sort = kByTotal;
  bool reverse = false;
  std::string filter;
  size_t selected = 0, scroll = 0;
  int64_t detail_pid = 0;
  model::BuffersReply detail_buffers;
  model::HistoryReply detail_history;
  size_t frag_index = 0;  // which of the shown devices the fragmentation view shows
  model::FragmentationReply fragmentation;  // replies replace these when they come
  int64_t frag_device = -1;                 // the device `fragmentation` is about
  std::string message;
  bool color = false;
  // Aggregate history of the shown devices: unix ms -> (DRAM used, L1 used).
  std::map<uint64_t, std::pair<double, double>> history;
  uint64_t last_sample_ms = 0;
};

// A type's capacity, when known (announced and non-zero); what is used of it.
std::optional<uint64_t> Total(const model::Figures& f);
uint64_t Used(const model::Figures& f);
double Percent(uint64_t used, std::optional<uint64_t> total);

bool DeviceShown(const State& st, uint32_t id);
// Process rows after the filter (text, user:NAME, pid:N, dev:N) and -d, sorted.
std::vector<ProcRow> Rows(const State& st);

// Adds a point to the chart (the shown devices' DRAM and L1 in use) once a second of `now_ms`.
// Returns true when it did.
bool Sample(State& st, uint64_t now_ms);
// The daemon's recent history of the shown devices (asked at start and after a reconnect).
void AddHistory(State& st, const model::HistoryReply& h);

// The replies of the views' own queries: kept when still about what the view shows. A refusal
// keeps its error (shown in place of the list); a malformed reply reads as empty.
enum class ReplyKind { kHistory, kBuffers, kProcessHistory, kFragmentation };
void TakeReply(State& st, ReplyKind kind, int64_t subject, const std::string& text);

// The selection in the process table (`rows` of them; a page is `page` rows).
enum class Move { kUp, kDown, kPageUp, kPageDown, kHome, kEnd };
void MoveSelection(State& st, Move m, size_t rows, size_t page);

// A key, as the state knows keys: printable ones as themselves, the others named.
enum Key : int {
  kKeyNone = 0,
  kKeyEnter = 0x10000,
  kKeyEscape,  // also Left and Backspace: back
  kKeyRight,
};
// What a key asks of the world beyond the state (top.cc does it); the state's own changes are
// made by ApplyKey.
struct KeyAction {
  enum Kind {
    kNothing,
    kQuit,
    kLoadFragmentation,  // the view's device changed: ask for its fragmentation
    kPromptFilter,       // ask the user for a filter
    kOpenDetail,         // of `pid`
    kSignal,             // `pid` with `sig`
  } kind = kNothing;
  int64_t pid = 0;
  int sig = 0;
};
// The key's effect in the current view: the state changed, and what else to do. `rows` are the
// process table's (Rows(st)).
KeyAction ApplyKey(State& st, int key, const std::vector<ProcRow>& rows);

}  // namespace ttmem::cli::top

#endif  // TTMEM_CLI_TOP_STATE_H_
