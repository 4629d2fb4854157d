//! The devices controller: v1 allow/deny lists, v2 eBPF device programs.
