// ttmem top's state without a terminal (issue 27): rows after filter and sort, the chart's points,
// the daemon's replies taken in (a refused or malformed one included) and the selection's moves.
#include "cli/top_state.h"

#include <gtest/gtest.h>

namespace ttmem::cli::top {
namespace {

model::Process Proc(pid_t pid, const std::string& user, const std::string& name, uint64_t dram,
                    uint64_t l1, std::vector<uint32_t> devices) {
  model::Process p;
  p.pid = pid;
  p.user = user;
  p.name = name;
  p.cmdline = "/usr/bin/" + name + " --model " + name;
  p.uid = 1000;
  p.devices = std::move(devices);
  p.memory[0].used_bytes = dram;
  p.memory[1].used_bytes = l1;
  return p;
}

State Host() {
  State st;
  st.have = true;
  st.status.processes = {Proc(30, "ann", "python", 500, 10, {0}),
                         Proc(10, "bob", "pytest", 900, 5, {1}),
                         Proc(20, "ann", "train\x1b[2J", 100, 700, {0, 1})};
  return st;
}

std::vector<int64_t> Pids(const std::vector<ProcRow>& rows) {
  std::vector<int64_t> out;
  for (const ProcRow& r : rows) out.push_back(r.pid);
  return out;
}

TEST(TopState, RowsAreFilteredAndSortedAsTheKeysAsk) {
  State st = Host();
  EXPECT_EQ(Pids(Rows(st)), (std::vector<int64_t>{10, 20, 30}));  // by total, largest first
  st.sort = kByL1;
  EXPECT_EQ(Pids(Rows(st)), (std::vector<int64_t>{20, 30, 10}));
  st.sort = kByPid;
  EXPECT_EQ(Pids(Rows(st)), (std::vector<int64_t>{10, 20, 30}));  // pids ascending
  st.reverse = true;
  EXPECT_EQ(Pids(Rows(st)), (std::vector<int64_t>{30, 20, 10}));
  st.reverse = false;
  st.filter = "user:ann";
  EXPECT_EQ(Pids(Rows(st)), (std::vector<int64_t>{20, 30}));
  st.filter = "dev:1";
  EXPECT_EQ(Pids(Rows(st)), (std::vector<int64_t>{10, 20}));
  st.filter = "--model pytest";  // the command line too
  EXPECT_EQ(Pids(Rows(st)), (std::vector<int64_t>{10}));
  st.filter.clear();
  st.opt.devices = {1};  // -d 1
  EXPECT_EQ(Pids(Rows(st)), (std::vector<int64_t>{10, 20}));
  // A name's control bytes never reach the terminal.
  for (const ProcRow& r : Rows(Host())) EXPECT_EQ(r.name.find('\x1b'), std::string::npos) << r.name;
  State none;
  EXPECT_TRUE(Rows(none).empty());  // no document yet
}

TEST(TopState, RepliesAreTakenWhenStillAboutTheViewAndRefusalsKeepTheirError) {
  State st = Host();
  st.detail_pid = 20;
  TakeReply(st, ReplyKind::kBuffers, 20,
            R"({"buffers":[{"device":0,"type":"l1","size":700}],"live_buffers":1,"by_op":[]})");
  ASSERT_EQ(st.detail_buffers.buffers.size(), 1u);
  EXPECT_EQ(st.detail_buffers.buffers[0].size, 700u);
  TakeReply(st, ReplyKind::kBuffers, 30, R"({"buffers":[]})");  // stale
  EXPECT_EQ(st.detail_buffers.buffers.size(), 1u);
  TakeReply(st, ReplyKind::kBuffers, 20, R"({"error":"pid 20 belongs to another user"})");
  EXPECT_EQ(st.detail_buffers.error, "pid 20 belongs to another user");
  EXPECT_TRUE(st.detail_buffers.buffers.empty());
  // A refused or malformed history: nothing added, nothing thrown.
  TakeReply(st, ReplyKind::kHistory, -1, R"({"error":"refused"})");
  TakeReply(st, ReplyKind::kHistory, -1, R"("garbage")");
  TakeReply(st, ReplyKind::kHistory, -1, "{not json");
  TakeReply(st, ReplyKind::kProcessHistory, 20, R"({"processes":7})");
  TakeReply(st, ReplyKind::kProcessHistory, 20, R"({"error":"pid 20 belongs to another user"})");
  EXPECT_EQ(st.detail_history.error, "pid 20 belongs to another user");
  EXPECT_TRUE(st.detail_history.processes.empty());
  EXPECT_TRUE(st.history.empty());
  TakeReply(st, ReplyKind::kHistory, -1,
            R"({"devices":[{"id":0,"samples":[[1000,5,6],[2000,7,8]]}]})");
  ASSERT_EQ(st.history.size(), 2u);
  EXPECT_EQ(st.history.at(2000), std::make_pair(7.0, 8.0));
  st.frag_device = 3;
  TakeReply(st, ReplyKind::kFragmentation, 3, R"({"devices":[{"id":3}]})");
  EXPECT_EQ(st.fragmentation.devices.size(), 1u);
  EXPECT_FALSE(st.fragmentation.error);
  // A refused fragmentation or process history keeps its error, and nothing else.
  TakeReply(st, ReplyKind::kFragmentation, 3, R"({"error":"rationed: try again"})");
  EXPECT_EQ(st.fragmentation.error, "rationed: try again");
  EXPECT_TRUE(st.fragmentation.devices.empty());
  TakeReply(st, ReplyKind::kFragmentation, 3, R"({"devices":[{"id":3}]})");
  EXPECT_EQ(st.fragmentation.devices.size(), 1u);
}

TEST(TopState, TheChartSamplesOnceASecondAndTheSelectionStaysInRange) {
  State st = Host();
  st.status.devices.resize(1);
  st.status.devices[0].memory[0].used_bytes = 1500;
  EXPECT_TRUE(Sample(st, 10000));
  EXPECT_FALSE(Sample(st, 10500));
  EXPECT_TRUE(Sample(st, 11000));
  EXPECT_EQ(st.history.at(11000).first, 1500.0);
  MoveSelection(st, Move::kEnd, 3, 10);
  EXPECT_EQ(st.selected, 2u);
  MoveSelection(st, Move::kPageUp, 3, 10);
  EXPECT_EQ(st.selected, 0u);
  MoveSelection(st, Move::kUp, 3, 10);
  EXPECT_EQ(st.selected, 0u);
  MoveSelection(st, Move::kEnd, 0, 10);
  EXPECT_EQ(st.selected, 0u);
}

TEST(TopState, KeysChangeTheStateAndSayWhatElseToDo) {
  State st = Host();
  const std::vector<ProcRow> rows = Rows(st);  // 10, 20, 30 by total
  EXPECT_EQ(ApplyKey(st, 's', rows).kind, KeyAction::kNothing);
  EXPECT_EQ(st.sort, kByPid);  // TOTAL is the last sort: s wraps to PID
  ApplyKey(st, 'r', rows);
  EXPECT_TRUE(st.reverse);
  st.selected = 1;
  KeyAction a = ApplyKey(st, kKeyEnter, rows);
  EXPECT_EQ(a.kind, KeyAction::kOpenDetail);
  EXPECT_EQ(a.pid, 20);
  a = ApplyKey(st, 'K', rows);
  EXPECT_EQ(a.kind, KeyAction::kSignal);
  EXPECT_EQ(a.pid, 20);
  EXPECT_EQ(a.sig, 9);
  // In the detail view: k signals the shown process, Esc goes back.
  st.view = View::kDetail;
  st.detail_pid = 30;
  a = ApplyKey(st, 'k', rows);
  EXPECT_EQ(a.pid, 30);
  EXPECT_EQ(a.sig, 15);
  ApplyKey(st, kKeyEscape, rows);
  EXPECT_EQ(st.view, View::kMain);
  // Fragmentation: f opens it (ask for figures), Tab moves to the next device.
  EXPECT_EQ(ApplyKey(st, 'f', rows).kind, KeyAction::kLoadFragmentation);
  EXPECT_EQ(st.view, View::kFragmentation);
  EXPECT_EQ(ApplyKey(st, '\t', rows).kind, KeyAction::kLoadFragmentation);
  EXPECT_EQ(st.frag_index, 1u);
  ApplyKey(st, kKeyEscape, rows);
  // Help: any key goes back; q quits from anywhere; the filter is asked for, the selection reset.
  ApplyKey(st, '?', rows);
  EXPECT_EQ(st.view, View::kHelp);
  ApplyKey(st, 'x', rows);
  EXPECT_EQ(st.view, View::kMain);
  st.selected = 2;
  EXPECT_EQ(ApplyKey(st, '/', rows).kind, KeyAction::kPromptFilter);
  EXPECT_EQ(st.selected, 0u);
  st.filter = "ann";
  ApplyKey(st, 'c', rows);
  EXPECT_TRUE(st.filter.empty());
  EXPECT_EQ(ApplyKey(st, 'q', rows).kind, KeyAction::kQuit);
  // Nothing selected (an empty table): Enter and k do nothing.
  st.selected = 5;
  EXPECT_EQ(ApplyKey(st, kKeyEnter, rows).kind, KeyAction::kNothing);
  EXPECT_EQ(ApplyKey(st, 'k', rows).kind, KeyAction::kNothing);
}

}  // namespace
}  // namespace ttmem::cli::top
