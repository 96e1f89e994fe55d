// Container ids and namespace pids from samples in the formats the kernel writes on real hosts:
// cgroup v1 and v2; docker (cgroupfs and systemd drivers), containerd, CRI-O and podman;
// Kubernetes pods under both drivers; a process on the host.
#include "base/container.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace ttmem::base {
namespace {

const std::string kId = "3f2a9c7b1e4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";

TEST(Container, DockerCgroupV1) {
  const std::string cg = "12:pids:/docker/" + kId + "\n11:memory:/docker/" + kId +
                         "\n1:name=systemd:/docker/" + kId +
                         "\n0::/system.slice/containerd.service\n";
  auto c = ContainerFromCgroup(cg);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->runtime, "docker");
  EXPECT_EQ(c->pod, "");
}

TEST(Container, DockerCgroupV2SystemdDriver) {
  auto c = ContainerFromCgroup("0::/system.slice/docker-" + kId + ".scope\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->runtime, "docker");
}

TEST(Container, ContainerdAndKubernetesV2Systemd) {
  auto c = ContainerFromCgroup(
      "0::/kubepods.slice/kubepods-burstable.slice/"
      "kubepods-burstable-pod7f0c1d2e_3a4b_4c5d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-" +
      kId + ".scope\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->runtime, "containerd");
  EXPECT_EQ(c->pod, "7f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f");
}

TEST(Container, KubernetesV1Cgroupfs) {
  auto c = ContainerFromCgroup(
      "11:cpuset:/kubepods/besteffort/pod7f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/" + kId +
      "\n10:memory:/kubepods/besteffort/pod7f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/" + kId + "\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->runtime, "containerd");
  EXPECT_EQ(c->pod, "7f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f");
}

TEST(Container, CrioAndPodman) {
  auto crio = ContainerFromCgroup(
      "0::/kubepods.slice/kubepods-pod7f0c1d2e_3a4b_4c5d_8e9f_0a1b2c3d4e5f.slice/crio-" + kId +
      ".scope\n");
  ASSERT_TRUE(crio);
  EXPECT_EQ(crio->runtime, "cri-o");
  EXPECT_EQ(crio->pod, "7f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f");
  auto podman = ContainerFromCgroup(
      "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope\n");
  ASSERT_TRUE(podman);
  EXPECT_EQ(podman->id, kId);
  EXPECT_EQ(podman->runtime, "podman");
}

TEST(Container, HostProcessesAndLookAlikesAreInNone) {
  EXPECT_FALSE(ContainerFromCgroup("0::/user.slice/user-0.slice/session-3.scope\n"));
  EXPECT_FALSE(ContainerFromCgroup("12:pids:/\n11:memory:/\n1:name=systemd:/init.scope\n"));
  EXPECT_FALSE(ContainerFromCgroup("0::/system.slice/docker.service\n"));
  EXPECT_FALSE(ContainerFromCgroup("0::/docker/" + kId.substr(0, 63) + "\n"));     // too short
  EXPECT_FALSE(ContainerFromCgroup("0::/docker/" + std::string(64, 'g') + "\n"));  // not hex
  EXPECT_FALSE(ContainerFromCgroup(""));
  EXPECT_FALSE(ContainerFromCgroup("garbage without colons"));
}

TEST(Container, InnermostPid) {
  EXPECT_EQ(InnermostPid("Name:\tpython3\nTgid:\t29913\nNSpid:\t29913\t1\nPPid:\t1\n"), 1);
  EXPECT_EQ(InnermostPid("Name:\tx\nNSpid:\t29911\n"), 29911);
  EXPECT_EQ(InnermostPid("Name:\tx\nNSpid:\t40\t12\t7\n"), 7);
  EXPECT_FALSE(InnermostPid("Name:\tx\nPid:\t40\n"));
  EXPECT_FALSE(InnermostPid("Name:\tx\nNSpid:\tabc\n"));
  EXPECT_FALSE(InnermostPid("Name:\tx\nNSpid:\t99999999999\n"));
}

// Issue 26: a user with a delegated cgroup (what systemd's user delegation gives) made
// ".../pod<uuid>.slice/cri-containerd-<64 hex>.scope" and was shown as that container and pod,
// while in the host's pid namespace. An id counts only where the process has a pid namespace of
// its own and the cgroup directory belongs to root.
TEST(Container, AContainerAUserCouldHaveNamedIsClaimedNotShown) {
  const std::string rel =
      "/user.slice/user-1000.slice/user@1000.service/kubepods-pod7f0c1d2e_3a4b_"
      "4c5d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-" +
      kId + ".scope";
  auto c = ContainerFromCgroup("0::" + rel + "\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->cgroup_dir, rel);
  char tmpl[] = "/tmp/ttmem-cgroup-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  EXPECT_TRUE(ContainerClaimed(*c, true, root));  // no such directory: not backed
  std::string dir = root;
  for (size_t i = 1, j; i < rel.size(); i = j + 1) {
    j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    dir += rel.substr(i - 1, j - i + 1);
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
  }
  if (::geteuid() == 0) {
    EXPECT_FALSE(ContainerClaimed(*c, true, root));  // root's, in its own pid namespace: shown
    EXPECT_TRUE(ContainerClaimed(*c, false, root));  // in the host's pid namespace: claimed
    ASSERT_EQ(::chown(dir.c_str(), 1000, 1000), 0);  // delegated: a user made it
    EXPECT_TRUE(ContainerClaimed(*c, true, root));
  } else {
    EXPECT_TRUE(ContainerClaimed(*c, true, root));  // ours, not root's: delegated
  }
  // cgroup v1: the directory under its controllers' mount ("name=systemd" is "systemd").
  auto v1 = ContainerFromCgroup("1:name=systemd:/docker/" + kId + "\n");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->cgroup_dir, "/systemd/docker/" + kId);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace ttmem::base
