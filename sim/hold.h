// hold.h — the `hold` scenario: buffers of known sizes held on chosen chips of the simulated
// system until interrupted (or --hold-ms), every chip announced, for `ttmem pick` and its tests.
#ifndef TTMEM_SIM_HOLD_H_
#define TTMEM_SIM_HOLD_H_

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/device.h"
#include "sim/scenarios.h"

namespace ttsim {

// A malformed --hold or --fragment: the message says which and what it should look like.
class BadSpec : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `at(name, devices)` is the checkpoint; `wait()` holds until the end. Throws BadSpec.
void RunHold(const ScenarioOptions& o,
             const std::function<void(const std::string&, const std::vector<Device*>&)>& at,
             const std::function<void()>& wait);

}  // namespace ttsim

#endif  // TTMEM_SIM_HOLD_H_
