//! The container's root filesystem: mounts, devices, pivot, masked and read-only paths.
