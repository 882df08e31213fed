#include "volt/core/device_graph.h"

#include "volt/core/device_backend.h"
#include "volt/core/error.h"

namespace volt {

bool is_capturing(Device device) {
  if (device.is_cpu()) return false;
  DeviceBackend* backend = find_device_backend(device.type);
  return backend != nullptr && backend->is_capturing(device.index);
}

bool DeviceGraph::supported(Device device) {
  if (!device_unusable_reason(device).empty() || device.is_cpu()) return false;
  return find_device_backend(device.type)->can_capture_graphs();
}

DeviceGraph::DeviceGraph(Device device) : device_(device) {
  VOLT_CHECK(!device.is_cpu(), "DeviceGraph: the CPU has no graphs; capture on a CUDA device");
  impl_ = backend_of(device, "DeviceGraph").make_graph(device.index);
}

DeviceGraph::~DeviceGraph() = default;
DeviceGraph::DeviceGraph(DeviceGraph&&) noexcept = default;
DeviceGraph& DeviceGraph::operator=(DeviceGraph&&) noexcept = default;

}  // namespace volt
