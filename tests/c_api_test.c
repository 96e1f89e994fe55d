/* Compiles the public header as C11 and exercises the C ABI with tracking disabled and enabled
 * (no daemon running: nothing may block or crash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttmem/ttmem.h"

int main(void) {
  ttmem_device_info info = TTMEM_DEVICE_INFO_INIT;
  ttmem_stats stats;
  char path[256];
  const int expect_enabled = getenv("TT_ALLOC_TRACKING_ENABLED") != NULL &&
                             strcmp(getenv("TT_ALLOC_TRACKING_ENABLED"), "1") == 0;
  if (ttmem_enabled() != expect_enabled) {
    fprintf(stderr, "ttmem_enabled() = %d, expected %d\n", ttmem_enabled(), expect_enabled);
    return 1;
  }
  info.device = 0;
  snprintf(info.arch, sizeof info.arch, "wormhole_b0");
  info.capacity_bytes[TTMEM_DRAM] = 12ull << 30;
  if ((ttmem_device_announce(&info) == 0) != expect_enabled) return 2;
  if (ttmem_device_announce(NULL) == 0) return 3;
  /* A caller built against the first, 112-byte struct (no bank geometry) is still accepted; a
   * smaller struct_size is not. */
  info.struct_size = TTMEM_DEVICE_INFO_V1_SIZE;
  if ((ttmem_device_announce(&info) == 0) != expect_enabled) return 10;
  info.struct_size = TTMEM_DEVICE_INFO_V1_SIZE - 8;
  if (ttmem_device_announce(&info) == 0) return 11;
  /* The 0.2/0.3 struct (200 bytes, no topology) too; and the whole one with where the chip sits. */
  if (TTMEM_DEVICE_INFO_V2_SIZE != 200 || sizeof info != 232) return 12;
  info.struct_size = TTMEM_DEVICE_INFO_V2_SIZE;
  if ((ttmem_device_announce(&info) == 0) != expect_enabled) return 13;
  info.struct_size = sizeof info;
  info.flags |= TTMEM_DEVICE_TOPOLOGY_VALID;
  info.pcie_id = 2;
  info.mmio_device = 0;
  info.board_id = 7;
  snprintf(info.board_type, sizeof info.board_type, "n300");
  if ((ttmem_device_announce(&info) == 0) != expect_enabled) return 14;
  ttmem_alloc(0, TTMEM_DRAM, 1, 0x1000, 4096);
  ttmem_alloc(5000, TTMEM_L1, 2, 0, 64); /* device id out of range: dropped and counted */
  ttmem_free(0, 1);
  ttmem_alloc_ex(0, TTMEM_DRAM, 3, 0, 64, TTMEM_ALLOC_HOOKED);
  ttmem_alloc_ex(0, TTMEM_DRAM, 4, 0, 64, 0x80u); /* unknown flag: dropped and counted */
  {
    /* One buffer on three devices (a mesh buffer), then freed: six records. */
    const uint32_t chips[3] = {1, 2, 3};
    const uint32_t bad[2] = {4, 5000};
    ttmem_alloc_devices(chips, 3, TTMEM_DRAM, 10, 0x2000, 4096, 0);
    ttmem_free_devices(chips, 3, 10);
    ttmem_alloc_devices(NULL, 3, TTMEM_DRAM, 11, 0, 64, 0); /* nothing */
    ttmem_free_devices(chips, 0, 11);                       /* nothing */
    ttmem_alloc_devices(bad, 2, TTMEM_L1, 12, 0, 64, 0);    /* device 5000: dropped, counted */
  }
  if (ttmem_get_stats(NULL) == 0) return 4;
  if (ttmem_get_stats(&stats) != 0) return 5;
  if (expect_enabled && (stats.events_written != 10 || stats.events_dropped != 3)) {
    fprintf(stderr, "stats: written %llu dropped %llu\n", (unsigned long long)stats.events_written,
            (unsigned long long)stats.events_dropped);
    return 6;
  }
  if (ttmem_flush(50) == 0) return 7; /* no daemon: must time out, not hang */
  if (ttmem_socket_path(path, sizeof path) == 0 || path[0] != '/') return 8;
  if (TTMEM_CB != 5 || TTMEM_KERNEL != 6 || TTMEM_TRACE != 4 || TTMEM_L1_SMALL != 3) return 9;
  printf("c_api_test ok (enabled=%d)\n", expect_enabled);
  return 0;
}
