#include "sim/mesh.h"

#include "sim/observer.h"

#include <atomic>

namespace ttsim {
namespace {
uint32_t NextMeshId() {
  static std::atomic<uint32_t> next{0};
  return next.fetch_add(1);
}
}  // namespace

std::unique_ptr<Device> OpenDevice(uint32_t id, const ArchSpec& arch) {
  auto d = std::make_unique<Device>(id, arch);
  AllocationObservers::ForEach([&](AllocationObserver& o) { o.DeviceOpened(*d); });
  return d;
}

MeshDevice::MeshDevice(uint32_t rows, uint32_t cols, const ArchSpec& arch, uint32_t first_id)
    : mesh_id_(NextMeshId()), rows_(rows), cols_(cols) {
  for (uint32_t i = 0; i < rows * cols; ++i) devices_.push_back(OpenDevice(first_id + i, arch));
}

uint64_t MeshDevice::AllocateBuffer(MemType type, uint64_t size, uint64_t page_size,
                                    bool bottom_up) {
  uint64_t address = devices_.front()->AllocateBuffer(type, size, page_size, bottom_up);
  size_t done = 1;
  try {
    for (; done < devices_.size(); ++done)
      devices_[done]->ClaimBufferAt(type, address, size, page_size);
  } catch (...) {
    for (size_t i = 0; i < done; ++i) devices_[i]->FreeBuffer(type, address);
    throw;
  }
  return address;
}

void MeshDevice::FreeBuffer(MemType type, uint64_t address) {
  for (auto& d : devices_) d->FreeBuffer(type, address);
}

std::shared_ptr<MeshBuffer> MeshBuffer::Create(MeshDevice& mesh, uint64_t size, uint64_t page_size,
                                               MemType type, MeshLayout layout) {
  std::shared_ptr<MeshBuffer> mb(new MeshBuffer());
  uint64_t n = mesh.num_devices();
  mb->per_device_size_ = layout == MeshLayout::kReplicated ? size : (size + n - 1) / n;
  mb->backing_ = Buffer::Create(mesh, mb->per_device_size_, page_size, type);
  for (size_t i = 0; i < mesh.num_devices(); ++i)
    mb->device_buffers_.push_back(Buffer::CreateAt(mesh.device(i), mb->backing_->address(),
                                                   mb->per_device_size_, page_size, type,
                                                   mb->backing_->hooked()));
  return mb;
}

void MeshBuffer::Deallocate() {
  for (auto& b : device_buffers_) b->Deallocate();
  if (backing_) backing_->Deallocate();
}

MeshBuffer::~MeshBuffer() {
  Deallocate();
}

}  // namespace ttsim
