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
  // The cgroup directory the id was read from, relative to the cgroup mount (/sys/fs/cgroup):
  // "/path" on cgroup v2, "/CONTROLLERS/path" on v1 ("name=systemd" mounted as "systemd").
  std::string cgroup_dir;
  bool claimed = false;  // set by the daemon: ContainerClaimed (the id is not believed)
};

// The container of a process from its /proc/PID/cgroup text (cgroup v1 or v2): the last path
// component that names a 64-hex-digit container id — "docker-ID.scope", "/docker/ID",
// "cri-containerd-ID.scope", "crio-ID.scope", "libpod-ID.scope", "/kubepods/…/podUID/ID" — with
// its Kubernetes pod ("pod" + uid, underscores in systemd slices read as dashes). nullopt for a
// process in no container.
std::optional<Container> ContainerFromCgroup(std::string_view cgroup);

// Whether the kernel's facts fail to back a container id a cgroup path names (issue 26: a user
// with a delegated cgroup can make a directory named like any runtime's): true unless the process
// is in a pid namespace of its own and the cgroup directory (under `cgroup_root`, normally
// /sys/fs/cgroup) belongs to root, i.e. is not delegated to a user. The one function here that
// looks at the file system (a stat).
bool ContainerClaimed(const Container& c, bool own_pid_namespace, const std::string& cgroup_root);

// The process's pid in its innermost pid namespace, from /proc/PID/status's "NSpid:" line (the
// last of its numbers). nullopt when the line is absent or malformed.
std::optional<pid_t> InnermostPid(std::string_view status);

}  // namespace ttmem::base

#endif  // TTMEM_BASE_CONTAINER_H_
