// fields.h — `ttmem status --query FIELDS --format csv`: named fields of the status JSON, for
// scripts (like nvidia-smi's --query-gpu / --query-compute-apps). docs/monitor.md lists them.
//
// Device fields: device.id, device.arch, device.unique_id, device.num_cores, device.processes,
//   device.<type>.{used_bytes,total_bytes,free_bytes,used_percent,buffers}.
// Process fields: process.pid, process.name, process.user, process.uid, process.cmdline,
//   process.tag, process.devices, process.dropped_events, process.unknown_frees,
//   process.duplicate_allocs, process.<type>.{used_bytes,buffers}, process.total.used_bytes.
// <type>: dram, l1, system_memory, l1_small, trace, cb, kernel.
//
// Rows: with only device fields, one per device. With any process field, one per (process,
// device it holds memory on), and process.<type>.* are its figures on that device; a process
// that holds nothing gets one row with empty device fields. Unknown values are empty.
#ifndef TTMEM_CLI_FIELDS_H_
#define TTMEM_CLI_FIELDS_H_

#include <string>
#include <vector>

#include "model/status.h"

namespace ttmem::cli {

// Every field name, in documentation order.
std::vector<std::string> AllFields();
// The fields of plain `--format csv`.
std::vector<std::string> DefaultDeviceFields();
// Splits "a,b, c" and checks each name. On error: false, *error names the field and the fix.
[[nodiscard]] bool ParseFields(const std::string& list, std::vector<std::string>* fields,
                               std::string* error);
// CSV: a header line (unless !header), then one line per row, each ending in \n; fields
// quoted as RFC 4180 says (a comma, quote or line break inside: quoted, quotes doubled).
std::string RenderCsv(const model::Status& status, const std::vector<std::string>& fields,
                      bool header);

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_FIELDS_H_
