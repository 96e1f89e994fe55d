#include "daemon/process_meta.h"

namespace ttmem::daemon {

std::string ProcessMeta::OpName(uint32_t id) const {
  if (id == 0) return "";
  if (id <= op_names.size() && !op_names[id - 1].empty()) return op_names[id - 1];
  return "op#" + std::to_string(id);
}

}  // namespace ttmem::daemon
