#!/usr/bin/env bash
# What the `wgpu` feature needs on a machine without a GPU driver: Vulkan's loader and Mesa's
# lavapipe, a Vulkan driver that runs on the CPU (Debian packages libvulkan1 and
# mesa-vulkan-drivers). A machine with a GPU uses its own driver instead.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1; }
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  echo "setup-wgpu: lavapipe is installed"
  exit 0
fi
if [[ "$(id -u)" == 0 ]] && have apt-get; then
  echo "setup-wgpu: installing Vulkan's loader and Mesa's lavapipe (Debian libvulkan1, mesa-vulkan-drivers)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q libvulkan1 mesa-vulkan-drivers >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q libvulkan1 mesa-vulkan-drivers >/dev/null; }
else
  echo "setup-wgpu: install Debian's libvulkan1 and mesa-vulkan-drivers (as root) to run the wgpu backend on the CPU" >&2
  exit 1
fi
echo "setup-wgpu: done"
