//! linux.seccomp: the OCI seccomp object compiled and loaded last before execve.
