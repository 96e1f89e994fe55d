// report.h — what `ttmem report` computes from a recording (docs/recording.md).
#ifndef TTMEM_CLI_REPORT_H_
#define TTMEM_CLI_REPORT_H_

#include <string>

#include <nlohmann/json.hpp>

namespace ttmem::cli {

// The report of the recording at `path` as JSON (the --json document), with `top` buffers
// listed at each peak and a timeline of `buckets` columns. False with *error on a file that is
// not a ttmem recording.
bool AnalyzeRecording(const std::string& path, uint32_t top, uint32_t buckets,
                      nlohmann::json* report, std::string* error);

// The report as text, and as one self-contained HTML page with SVG charts.
std::string RenderReportText(const nlohmann::json& report);
std::string RenderReportHtml(const nlohmann::json& report);

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_REPORT_H_
