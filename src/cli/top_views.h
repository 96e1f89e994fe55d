// top_views.h — `ttmem top`'s views drawn with curses from its state (top_state.h): the main
// view (device panels, history chart, process table), a process's detail, a device's
// fragmentation, the help, and the status line. top.cc runs the loop and the keys.
#ifndef TTMEM_CLI_TOP_VIEWS_H_
#define TTMEM_CLI_TOP_VIEWS_H_

#include <string>

#include "cli/top_state.h"

namespace ttmem::cli::top {

enum Color { kGreen = 1, kYellow, kRed, kTitle };  // curses colour pairs
void Put(int y, int x, const std::string& s, int attr = 0);
void FillLine(int y, const std::string& s, int attr);
// The whole screen for the state's view.
void Draw(State& st);

}  // namespace ttmem::cli::top

#endif  // TTMEM_CLI_TOP_VIEWS_H_
