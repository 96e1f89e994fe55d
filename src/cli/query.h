// query.h — the CLI's side of the query protocol: one connection, requests and replies as the
// daemon's text (model/requests.h builds the one and takes a first look at the other).
#ifndef TTMEM_CLI_QUERY_H_
#define TTMEM_CLI_QUERY_H_

#include <string>

#include "base/socket.h"
#include "base/unique_fd.h"
#include "protocol/frames.h"
#include "protocol/wire.h"

namespace ttmem::cli {

class QueryClient {
 public:
  explicit QueryClient(std::string socket_path) : path_(std::move(socket_path)) {}
  // Sends a request (model::Request(…).Text()) and returns the reply's text, unparsed: a refusal
  // too (model::CheckReply). On failure returns false with a one-line *error that names the fix.
  // Reconnects on the next call after a failure.
  [[nodiscard]] bool RequestRaw(const std::string& request, std::string* payload,
                                std::string* error);
  // RequestRaw, and the reply checked with model::CheckReply: false with *error on a refusal.
  [[nodiscard]] bool Request(const std::string& request, std::string* payload, std::string* error);
  // Subscriptions: Send a request ({"cmd": "subscribe", ...}) without waiting, then Poll for
  // the documents the daemon pushes: 1 with *out set, 0 when none came within timeout_ms,
  // -1 when the connection is lost (*error says so; the next Send reconnects).
  [[nodiscard]] bool Send(const std::string& request, std::string* error);
  int Poll(std::string* out, int timeout_ms, std::string* error);
  // The same for any frame (the event stream's binary kEvents frames): *out stays valid until
  // the next call.
  int PollFrame(const proto::Frame** out, int timeout_ms, std::string* error);
  // Drops the connection (a reply it could not use); the next Send reconnects.
  void Close() { fd_.reset(); }
  const std::string& path() const { return path_; }

 private:
  [[nodiscard]] bool Connect(std::string* error);
  std::string path_;
  base::UniqueFd fd_;
  proto::FrameReader reader_{proto::kMaxReplyPayload};  // buffers reused between replies
  proto::Frame frame_;
};

}  // namespace ttmem::cli

#endif  // TTMEM_CLI_QUERY_H_
