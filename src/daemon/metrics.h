// metrics.h — Prometheus export (`ttmemd --metrics-listen ADDR:PORT`), with prometheus-cpp.
//
// The event loop owns the ledger, so it builds the metric families (from the status model,
// the same `ttmem status --json` prints) at most once a second and hands them over; the
// exporter's HTTP threads serve the last set they were given. Metric names: docs/prometheus.md.
#ifndef TTMEM_DAEMON_METRICS_H_
#define TTMEM_DAEMON_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/status.h"

namespace prometheus {
class Exposer;
}

namespace ttmem::daemon {

class SnapshotCollectable;

class MetricsExporter {
 public:
  MetricsExporter();
  ~MetricsExporter();
  // Listens on ADDR:PORT ("127.0.0.1:9464", "[::1]:9464", ":9464" for all addresses). False
  // with *error when the address is malformed or cannot be bound.
  [[nodiscard]] bool Start(const std::string& listen, std::string* error);
  // The port it listens on (useful with port 0).
  int port() const;
  // Replaces what scrapes see: the status and, per (device, type name), the largest free block
  // of one bank.
  void Update(const model::Status& status,
              const std::map<std::pair<uint32_t, std::string>, uint64_t>& largest_free);

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<SnapshotCollectable> snapshot_;
};

}  // namespace ttmem::daemon

#endif  // TTMEM_DAEMON_METRICS_H_
