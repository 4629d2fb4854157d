//! The library's error: one variant per area, each carrying that area's own error.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Id(#[from] crate::id::IdError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Devices(#[from] crate::cgroups::devices::DeviceError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Plan(#[from] crate::process::plan::PlanError),
    #[error(transparent)]
    Namespaces(#[from] crate::namespaces::NsError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Spawn(#[from] crate::process::parent::SpawnError),
    #[error(transparent)]
    SelfImage(#[from] crate::self_image::SelfImageError),
    #[error(transparent)]
    Exec(#[from] crate::process::exec::ExecError),
    #[error(transparent)]
    ExecInput(#[from] crate::container::ExecInputError),
    #[error(transparent)]
    Lifecycle(#[from] crate::container::LifecycleError),
}

pub type Result<T> = std::result::Result<T, Error>;
