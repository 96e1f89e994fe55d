// container.h — which container a process runs in and its pid there, from what the kernel shows
// the host (/proc/PID/cgroup, /proc/PID/status). Pure text parsing; no I/O.
#ifndef TTMEM_BASE_CONTAINER_H_
#define TTMEM_BASE_CONTAINER_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace ttmem::base {

struct Container {
  std::string id;       // the container's id: 64 hex digits (docker, containerd, CRI-O, podman)
  std::string runtime;  // "docker", "containerd", "cri-o", "podman"
  std::string pod;      // Kubernetes: the pod's uid (dashes), else ""
};

// The container of a process from its /proc/PID/cgroup text (cgroup v1 or v2): the last path
// component that names a 64-hex-digit container id — "docker-ID.scope", "/docker/ID",
// "cri-containerd-ID.scope", "crio-ID.scope", "libpod-ID.scope", "/kubepods/…/podUID/ID" — with
// its Kubernetes pod ("pod" + uid, underscores in systemd slices read as dashes). nullopt for a
// process in no container.
std::optional<Container> ContainerFromCgroup(std::string_view cgroup);

// The process's pid in its innermost pid namespace, from /proc/PID/status's "NSpid:" line (the
// last of its numbers). nullopt when the line is absent or malformed.
std::optional<pid_t> InnermostPid(std::string_view status);

}  // namespace ttmem::base

#endif  // TTMEM_BASE_CONTAINER_H_
