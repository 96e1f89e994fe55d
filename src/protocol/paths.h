// paths.h — where the daemon's socket lives.
#ifndef TTMEM_PROTOCOL_PATHS_H_
#define TTMEM_PROTOCOL_PATHS_H_

#include <string>

namespace ttmem::proto {

// TTMEM_SOCKET if set and non-empty; else /run/ttmem/ttmemd.sock when running as root or when
// /run/ttmem exists (a system-wide daemon); else $XDG_RUNTIME_DIR/ttmemd.sock; else
// /tmp/ttmem-<uid>/ttmemd.sock.
std::string DefaultSocketPath();

}  // namespace ttmem::proto

#endif  // TTMEM_PROTOCOL_PATHS_H_
