#include "base/container.h"

#include <sys/stat.h>

#include <cctype>
#include <vector>

namespace ttmem::base {
namespace {

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c)))
      return false;
  return true;
}

bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// A path component that names a container: its id and runtime.
std::optional<Container> FromComponent(std::string_view c, std::string_view parent) {
  static constexpr struct {
    std::string_view prefix, runtime;
  } kScopes[] = {{"docker-", "docker"},
                 {"cri-containerd-", "containerd"},
                 {"crio-", "cri-o"},
                 {"libpod-", "podman"}};
  if (EndsWith(c, ".scope"))
    for (const auto& s : kScopes)
      if (StartsWith(c, s.prefix)) {
        std::string_view id = c.substr(s.prefix.size(), c.size() - s.prefix.size() - 6);
        if (IsHex64(id)) return Container{std::string(id), std::string(s.runtime), "", "", false};
      }
  if (IsHex64(c)) {  // cgroupfs driver: /docker/ID, /kubepods/…/podUID/ID, /libpod_parent/…/ID
    std::string runtime = parent == "docker" ? "docker" : "containerd";
    if (parent.find("libpod") != std::string_view::npos) runtime = "podman";
    return Container{std::string(c), runtime, "", "", false};
  }
  return std::nullopt;
}

// "pod<uid>" or "kubepods-…-pod<uid with underscores>.slice" -> the pod's uid.
std::string PodOf(std::string_view c) {
  const size_t at = c.rfind("pod");
  if (at == std::string_view::npos || (at != 0 && c[at - 1] != '-')) return "";
  std::string uid(c.substr(at + 3));
  if (EndsWith(uid, ".slice")) uid.resize(uid.size() - 6);
  for (char& ch : uid)
    if (ch == '_') ch = '-';
  if (uid.size() != 36) return "";
  for (char ch : uid)
    if (!(std::isxdigit(static_cast<unsigned char>(ch)) || ch == '-')) return "";
  return uid;
}

}  // namespace

std::optional<Container> ContainerFromCgroup(std::string_view cgroup) {
  std::optional<Container> found;
  size_t line_start = 0;
  while (line_start < cgroup.size() && !found) {
    size_t nl = cgroup.find('\n', line_start);
    if (nl == std::string_view::npos) nl = cgroup.size();
    std::string_view line = cgroup.substr(line_start, nl - line_start);
    line_start = nl + 1;
    // hierarchy-ID:controllers:path
    const size_t c1 = line.find(':');
    const size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view path = line.substr(c2 + 1);
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::vector<std::string_view> parts;
    for (size_t i = 0; i < path.size();) {
      size_t j = path.find('/', i);
      if (j == std::string_view::npos) j = path.size();
      if (j > i) parts.push_back(path.substr(i, j - i));
      i = j + 1;
    }
    for (size_t k = parts.size(); k-- > 0 && !found;) {
      found = FromComponent(parts[k], k > 0 ? parts[k - 1] : std::string_view());
      if (!found) continue;
      for (size_t p = 0; p < k && found->pod.empty(); ++p) found->pod = PodOf(parts[p]);
      // Where that directory is: v2 ("0::path") at the mount's root, v1 under its controllers'.
      std::string dir;
      if (!controllers.empty())
        dir = "/" +
              std::string(StartsWith(controllers, "name=") ? controllers.substr(5) : controllers);
      for (size_t p = 0; p <= k; ++p) dir += "/" + std::string(parts[p]);
      found->cgroup_dir = dir;
      if (!found->pod.empty() && found->runtime == "docker" && parts[0] != "docker")
        found->runtime = "containerd";
    }
  }
  return found;
}

bool ContainerClaimed(const Container& c, bool own_pid_namespace, const std::string& cgroup_root) {
  if (!own_pid_namespace) return true;
  if (c.cgroup_dir.empty() || c.cgroup_dir.find("/..") != std::string::npos) return true;
  struct stat st {};
  return ::stat((cgroup_root + c.cgroup_dir).c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
         st.st_uid != 0;
}

std::optional<pid_t> InnermostPid(std::string_view status) {
  const size_t at = status.find("\nNSpid:");
  if (at == std::string_view::npos && !StartsWith(status, "NSpid:")) return std::nullopt;
  size_t i = at == std::string_view::npos ? 6 : at + 7;
  std::optional<pid_t> last;
  while (i < status.size() && status[i] != '\n') {
    while (i < status.size() && (status[i] == ' ' || status[i] == '\t')) ++i;
    if (i >= status.size() || status[i] == '\n') break;
    long v = 0;
    size_t digits = 0;
    while (i < status.size() && std::isdigit(static_cast<unsigned char>(status[i]))) {
      v = v * 10 + (status[i] - '0');
      if (v > 0x7fffffff) return std::nullopt;
      ++i;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    last = static_cast<pid_t>(v);
  }
  return last;
}

}  // namespace ttmem::base
