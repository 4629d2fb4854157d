//! Process creation and control: clone, pidfd, prctl, exec.
