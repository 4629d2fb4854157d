//! mount(2) family: mounts through /proc/self/fd, mount_setattr, pivot_root.
