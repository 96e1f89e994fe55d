// report.h — what `ttmem report` computes from a recording (docs/recording.md).
#ifndef TTMEM_CLI_REPORT_H_
#define TTMEM_CLI_REPORT_H_

#include <optional>
#include <string>

#include "model/report.h"

namespace ttmem::cli {

namespace report = model::report;  // the report model (model/report.h)

// The report of the recording at `path` (report_model.h), with `top` buffers listed at each peak
// and a timeline of `buckets` columns. False with *error on a file that is not a ttmem recording.
// With `trace_path`, also writes the recording there as Chrome trace-event JSON
// (cli/report_trace.h).
[[nodiscard]] bool AnalyzeRecording(const std::string& path, uint32_t top, uint32_t buckets,
                                    report::Report* report, std::string* error,
                                    const std::string& trace_path = "");
// The same, or a report saved with `ttmem report --json` read back (a baseline).
[[nodiscard]] bool LoadReport(const std::string& path, uint32_t top, report::Report* report,
                              std::string* error, const std::string& trace_path = "");

// The report as text, and as one self-contained HTML page with SVG charts (report_text.cc,
// report_html.cc).
std::string RenderReportText(const report::Report& report);
std::string RenderReportHtml(const report::Report& report);
// Text made safe inside HTML (element content and quoted attributes).
std::string HtmlEscape(const std::string& s);

// Its sections about why memory was held (empty when the recording has none): the ops, the phase
// marks and their growth, the sizing advice (`--advise`).
std::string RenderOpsText(const report::Report& report);
std::string RenderPhasesText(const report::Report& report);
std::string RenderAdviceText(const report::Report& report);

// Shared by the text and the HTML: a time as "YYYY-MM-DD HH:MM:SS UTC", one as "+S.SSS s" from
// the recording's start, and a signed size ("+1.0 MiB").
std::string ReportUtcTime(int64_t ns);
std::string ReportOffset(const report::Report& report, int64_t ns);
std::string SignedBytes(int64_t bytes);

// The regression gate (`--baseline OLD --max-growth PCT`): each device and type's peak, and each
// op's peak where both recordings name the op, before and now; a row exceeds when it grew by more
// than `max_growth_pct` percent (or from nothing).
report::Comparison CompareReports(const report::Report& baseline, const report::Report& now,
                                  std::optional<double> max_growth_pct);
std::string RenderComparisonText(const report::Comparison& comparison);

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_REPORT_H_
