// Declarations only (see ../../README.md): tt_metal/impl/program/program_impl.hpp @ 00b0fa3f.
#pragma once
#include <cstdint>
#include <memory>
#include <span>

#include "impl/buffers/circular_buffer.hpp"

namespace tt::tt_metal {
using ProgramId = std::uint64_t;
namespace detail {
class ProgramImpl {
public:
    ProgramId get_id() const;
    std::span<const std::shared_ptr<CircularBufferImpl>> circular_buffers() const;
};
}  // namespace detail
}  // namespace tt::tt_metal
