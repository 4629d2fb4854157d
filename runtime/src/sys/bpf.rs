//! bpf(2): loading and attaching cgroup device programs.
