// mesh.h — a MeshDevice of rows x cols devices (default 2 x 4, a T3000) and MeshBuffers.
//
// The mesh allocates in lock step: a buffer takes the same address on every device. A MeshBuffer
// is a backing buffer allocated on the mesh (per-device size: the full size when replicated, a
// shard when sharded) plus one pre-allocated Buffer per device at the backing buffer's address,
// as tt-metal's MeshBuffer::create does.
#ifndef TTMEM_SIM_MESH_H_
#define TTMEM_SIM_MESH_H_

#include <memory>
#include <vector>

#include "sim/buffer.h"
#include "sim/device.h"

namespace ttsim {

class MeshDevice : public AllocTarget {
 public:
  // Opens rows x cols devices with ids first_id, first_id + 1, ... (observers hear of each).
  MeshDevice(uint32_t rows, uint32_t cols, const ArchSpec& arch, uint32_t first_id = 0);
  // tt-metal's MeshDevice::id(): from a mesh-id counter that starts at 0, so the first mesh's id
  // is chip 0's id too.
  uint32_t id() const override { return mesh_id_; }
  bool is_mesh() const override { return true; }
  const ArchSpec& arch() const override { return devices_.front()->arch(); }
  uint64_t AllocateBuffer(MemType type, uint64_t size, uint64_t page_size, bool bottom_up) override;
  void FreeBuffer(MemType type, uint64_t address) override;

  size_t num_devices() const { return devices_.size(); }
  Device& device(size_t i) { return *devices_[i]; }
  uint32_t rows() const { return rows_; }
  uint32_t cols() const { return cols_; }

  // The devices as buffer targets (what the processor shell reports a backing buffer on).
  const std::vector<std::unique_ptr<Device>>& devices() const { return devices_; }

 private:
  uint32_t mesh_id_;
  uint32_t rows_, cols_;
  std::vector<std::unique_ptr<Device>> devices_;
};

// Opens one device and tells the observers.
std::unique_ptr<Device> OpenDevice(uint32_t id, const ArchSpec& arch);

enum class MeshLayout { kReplicated, kSharded };

class MeshBuffer {
 public:
  // `size` is the global size: every device holds all of it (replicated) or 1/N of it (sharded).
  static std::shared_ptr<MeshBuffer> Create(MeshDevice& mesh, uint64_t size, uint64_t page_size,
                                            MemType type, MeshLayout layout);
  ~MeshBuffer();
  void Deallocate();
  uint64_t per_device_size() const { return per_device_size_; }
  const Buffer& backing() const { return *backing_; }
  const Buffer& device_buffer(size_t i) const { return *device_buffers_[i]; }
  std::shared_ptr<Buffer> device_buffer_ptr(size_t i) const { return device_buffers_[i]; }

 private:
  MeshBuffer() = default;
  uint64_t per_device_size_ = 0;
  std::shared_ptr<Buffer> backing_;
  std::vector<std::shared_ptr<Buffer>> device_buffers_;
};

}  // namespace ttsim

#endif  // TTMEM_SIM_MESH_H_
