// ttmem top — the live monitor (docs/monitor.md). Updates come from a daemon subscription (a
// status document whenever something changed, at most every -r ms); history from the daemon's
// rings, then from the updates. Views: main (device panels, history chart, process table),
// process detail, help. Never crashes on a lost daemon: it says so and retries.
#include <curses.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/text.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/query.h"
#include "cli/top_layout.h"
#include "cli/top_state.h"
#include "cli/top_views.h"
#include "model/from_tt_shm.h"
#include "model/replies.h"
#include "model/requests.h"
#include "model/status_json.h"
#include "protocol/mem_types.h"

namespace ttmem::cli {

namespace {

using namespace top;  // NOLINT: the state's vocabulary

std::atomic<bool> g_quit{false};
void OnSignal(int) {
  g_quit = true;
}

// The views' own requests (the devices' history, a process's buffers and history, a device's
// fragmentation) go out on a connection of their own without waiting; their replies are taken
// when they come (the daemon answers one connection's requests in order). The loop never blocks
// on them: a slow daemon delays a view's figures, never the keys.
class ViewQueries {
 public:
  using Kind = ReplyKind;
  struct Reply {
    Kind kind;
    int64_t subject;  // the pid or device it is about (-1: none)
    std::string doc;  // the reply's text
  };
  explicit ViewQueries(const std::string& socket) : client_(socket) {}
  // Sends `request` unless the same question is still unanswered.
  void Ask(Kind kind, int64_t subject, const model::Request& request) {
    for (const auto& [k, s] : pending_)
      if (k == kind && s == subject) return;
    std::string error;
    if (!client_.Send(request.Text(), &error)) {
      pending_.clear();  // the connection is gone: the next Send reconnects
      return;
    }
    pending_.emplace_back(kind, subject);
  }
  // A reply that came, if any.
  std::optional<Reply> Take() {
    if (pending_.empty()) return std::nullopt;
    std::string doc;
    std::string error;
    const int r = client_.Poll(&doc, 0, &error);
    if (r < 0) pending_.clear();
    if (r <= 0) return std::nullopt;
    Reply reply{pending_.front().first, pending_.front().second, std::move(doc)};
    pending_.erase(pending_.begin());
    return reply;  // a refusal too: the model's readers keep its error
  }

 private:
  QueryClient client_;
  std::vector<std::pair<Kind, int64_t>> pending_;  // in the order asked
};

// The shown device's fragmentation (the reply lands in st.fragmentation when it comes).
void LoadFragmentation(State& st, ViewQueries& q) {
  const std::vector<model::Device>& devices = st.status.devices;
  if (devices.empty()) return;
  st.frag_index %= devices.size();
  const uint32_t id = devices[st.frag_index].id;
  if (st.frag_device != int64_t{id}) {  // nothing of another device meanwhile
    st.fragmentation = {};
    st.frag_device = id;
  }
  q.Ask(ViewQueries::Kind::kFragmentation, id,
        model::Request("fragmentation")
            .Int("device", id)
            .Int("cells", LayoutFragmentation(LINES, COLS, 0).map_cells));
}

// A one-line prompt in the status line; returns nullopt on Esc.
std::optional<std::string> Prompt(State& st, const std::string& question) {
  std::string text;
  timeout(-1);
  for (;;) {
    FillLine(LINES - 1, " " + question + text, A_REVERSE);
    refresh();
    int ch = getch();
    if (ch == 27) {
      timeout(50);
      return std::nullopt;
    }
    if (ch == '\n' || ch == KEY_ENTER) break;
    if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && !text.empty())
      text.pop_back();
    else if (ch >= 32 && ch < 127 && text.size() < 64)
      text += static_cast<char>(ch);
  }
  timeout(50);
  (void)st;
  return text;
}

void SignalProcess(State& st, int64_t pid, int sig) {
  const char* name = sig == SIGKILL ? "SIGKILL" : "SIGTERM";
  if (st.opt.readonly) {
    st.message = "read-only (--readonly): sending signals is off";
    return;
  }
  std::optional<ProcRow> target;
  for (const auto& r : Rows(st))
    if (r.pid == pid) target = r;
  if (!target) return;
  if (target->from_file) {
    st.message = fmt::format(
        "refused: {} is known only from tt-metal's statistics files, which any user can write; "
        "ttmem top signals only processes connected to the daemon",
        pid);
    return;
  }
  if (::geteuid() != 0 && (!target->uid_known || target->uid != ::getuid())) {
    st.message = fmt::format("refused: {} belongs to {}; only root signals other users", pid,
                             target->user.empty() ? "another user" : target->user);
    return;
  }
  auto answer = Prompt(st, fmt::format("send {} to {} ({})? y/N ", name, pid, target->name));
  if (!answer || (*answer != "y" && *answer != "Y")) {
    st.message = "not sent";
    return;
  }
  st.message = ::kill(static_cast<pid_t>(pid), sig) == 0
                   ? fmt::format("sent {} to {}", name, pid)
                   : fmt::format("{} to {} failed: {}", name, pid, std::strerror(errno));
}

// The detail of `pid` (its buffers and history land in the state when the replies come).
void OpenDetail(State& st, ViewQueries& q, int64_t pid) {
  if (st.view != View::kDetail || st.detail_pid != pid) {
    st.detail_buffers = {};  // nothing of another process meanwhile
    st.detail_history = {};
  }
  st.view = View::kDetail;
  st.detail_pid = pid;
  q.Ask(ViewQueries::Kind::kBuffers, pid,
        model::Request("buffers").Int("pid", pid).Int("limit", 10));
  q.Ask(ViewQueries::Kind::kProcessHistory, pid, model::Request("history").Int("pid", pid));
}

// Returns false to quit.
// The arrow and page keys in the process table. True when `ch` was one.
bool MoveKey(State& st, int ch, size_t rows) {
  const size_t page = static_cast<size_t>(std::max(LINES / 2, 1));
  const std::map<int, Move> keys = {{KEY_UP, Move::kUp},        {KEY_DOWN, Move::kDown},
                                    {KEY_PPAGE, Move::kPageUp}, {KEY_NPAGE, Move::kPageDown},
                                    {KEY_HOME, Move::kHome},    {KEY_END, Move::kEnd}};
  auto it = keys.find(ch);
  if (it == keys.end()) return false;
  MoveSelection(st, it->second, rows, page);
  return true;
}

static_assert(SIGKILL == 9 && SIGTERM == 15, "ApplyKey names the signals by number");

// A curses key as the state knows it (top_state.h).
int StateKey(int ch) {
  switch (ch) {
    case '\n':
    case KEY_ENTER:
      return kKeyEnter;
    case 27:
    case KEY_LEFT:
    case KEY_BACKSPACE:
    case 127:
      return kKeyEscape;
    case KEY_RIGHT:
      return kKeyRight;
    case KEY_RESIZE:
    case ERR:
      return kKeyNone;
    default:
      return ch;
  }
}

// Returns false to quit. The state decides (ApplyKey); this does what needs the world.
bool HandleKey(State& st, ViewQueries& q, int ch) {
  const std::vector<ProcRow> rows = Rows(st);
  if (st.view == View::kMain && MoveKey(st, ch, rows.size())) return true;
  const KeyAction a = ApplyKey(st, StateKey(ch), rows);
  switch (a.kind) {
    case KeyAction::kQuit:
      return false;
    case KeyAction::kLoadFragmentation:
      LoadFragmentation(st, q);
      break;
    case KeyAction::kPromptFilter:
      if (auto f = Prompt(st, "filter (text, user:NAME, pid:N, dev:N): ")) st.filter = *f;
      break;
    case KeyAction::kOpenDetail:
      OpenDetail(st, q, a.pid);
      break;
    case KeyAction::kSignal:
      SignalProcess(st, a.pid, a.sig);
      break;
    case KeyAction::kNothing:
      break;
  }
  return true;
}

// The terminal in curses mode: keys unbuffered, a 50 ms key wait, colours unless told not to.
void StartCurses(State& st, const TopOptions& o) {
  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  set_escdelay(25);
  curs_set(0);
  timeout(50);
  if (!o.no_color && has_colors()) {
    start_color();
    use_default_colors();
    init_pair(kGreen, COLOR_GREEN, -1);
    init_pair(kYellow, COLOR_YELLOW, -1);
    init_pair(kRed, COLOR_RED, -1);
    init_pair(kTitle, COLOR_CYAN, -1);
    st.color = true;
  }
}

// Not a terminal (a pipe, CI, a script): the status table, once.
int PrintStatusOnce(const TopOptions& o) {
  QueryClient q(o.socket);
  model::Status s;
  std::string error;
  if (!RequestStatus(q, &s, &error)) {
    PrintError(error);
    return kExitUsage;
  }
  model::KeepDevices(&s, o.devices);
  std::string text = RenderStatus(s);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

// The pushed status: takes what came, or resubscribes once a refresh has passed since the last
// try after the connection was lost. True when there is something new to draw.
class Subscription {
 public:
  explicit Subscription(const TopOptions& o)
      : q_(o.socket),
        request_(model::Request("subscribe").Int("interval_ms", o.refresh_ms).Text()),
        refresh_(o.refresh_ms) {}
  bool Start(std::string* error) { return q_.Send(request_, error); }
  bool Follow(State& st, ViewQueries& views) {
    std::string error;
    if (!st.connected) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_try_ < refresh_) return false;
      last_try_ = now;
      if (!Start(&error)) {
        st.error = error;
        return true;
      }
      st.connected = true;
      st.history.clear();
      views.Ask(ViewQueries::Kind::kHistory, -1, model::Request("history"));
      return true;
    }
    std::string doc;
    model::Status pushed;
    int r = q_.Poll(&doc, 0, &error);
    if (r > 0 && !model::FromJsonText(doc, &pushed, &error)) {
      q_.Close();  // not a status: resubscribe on a new connection
      r = -1;
    }
    if (r > 0) {
      model::KeepDevices(&pushed, st.opt.devices);
      st.status = std::move(pushed);
      st.have = true;
    } else if (r < 0) {
      st.connected = false;
      st.error = error;
    }
    return r != 0;
  }

 private:
  QueryClient q_;
  std::string request_;
  std::chrono::milliseconds refresh_;
  std::chrono::steady_clock::time_point last_try_ = std::chrono::steady_clock::now();
};

}  // namespace

int RunTop(const TopOptions& o) {
  if (!isatty(STDOUT_FILENO)) return PrintStatusOnce(o);
  Subscription sub(o);
  std::string error;
  if (!sub.Start(&error)) {
    PrintError(error);
    return kExitUsage;
  }
  State st;
  st.opt = o;
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  StartCurses(st, o);
  st.connected = true;
  ViewQueries views(o.socket);
  views.Ask(ViewQueries::Kind::kHistory, -1, model::Request("history"));
  bool dirty = true;
  while (!g_quit) {
    if (sub.Follow(st, views)) dirty = true;
    if (st.have && st.connected && Sample(st, base::UnixMs())) dirty = true;
    if (dirty) {  // the views' own queries follow the pushed updates
      if (st.view == View::kDetail) OpenDetail(st, views, st.detail_pid);
      if (st.view == View::kFragmentation) LoadFragmentation(st, views);
    }
    while (auto reply = views.Take()) {  // the views' answers, as they come
      TakeReply(st, reply->kind, reply->subject, reply->doc);
      dirty = true;
    }
    if (dirty) Draw(st);
    dirty = false;
    int ch = getch();  // waits up to 50 ms
    if (ch != ERR) {
      if (!HandleKey(st, views, ch)) break;
      dirty = true;
    }
  }
  endwin();
  return kExitOk;
}

}  // namespace ttmem::cli
