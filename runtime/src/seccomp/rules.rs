//! Translation of the OCI seccomp vocabulary (actions, architectures, operators, flags)
//! into libseccomp's and the kernel's, each refusing what cannot be honoured, by field.

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp};
use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use super::{SeccompError, invalid};

/// The kernel passes six syscall arguments to a filter (seccomp_data.args[6]).
const MAX_ARGS: usize = 6;

/// SECCOMP_RET_DATA is 16 bits wide: the most an errno or trace value can carry.
const MAX_RET_DATA: u32 = 0xffff;

/// Filter flags corral passes to seccomp(2), in the OCI spelling, for `corral features`.
pub const SUPPORTED_FLAGS: [&str; 3] = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"];

/// Actions corral implements, in the OCI spelling (SCMP_ACT_NOTIFY needs a seccomp agent).
pub const SUPPORTED_ACTIONS: [&str; 8] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// Every argument operator of the runtime spec.
pub const OPERATORS: [&str; 7] =
    ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];

/// An OCI action with its optional errno/trace value. `ret_field` names the config field
/// that holds the value (errnoRet or defaultErrnoRet) for error messages.
pub fn action(act: LinuxSeccompAction, ret: Option<u32>, field: &str, ret_field: &str) -> Result<ScmpAction, SeccompError> {
    use LinuxSeccompAction as A;
    let takes_ret = matches!(act, A::ScmpActErrno | A::ScmpActTrace);
    if ret.is_some() && !takes_ret {
        return Err(invalid(
            ret_field,
            format!("is set, but {act} takes no return value; use it only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
        ));
    }
    // Like runc, an absent value means EPERM.
    let data = ret.unwrap_or(libc::EPERM as u32);
    if data > MAX_RET_DATA {
        return Err(invalid(ret_field, format!("{data} does not fit the kernel's 16-bit return data (at most {MAX_RET_DATA})")));
    }
    Ok(match act {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(data as i32),
        A::ScmpActTrace => ScmpAction::Trace(data as u16),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActNotify => return Err(notify_unsupported(field)),
    })
}

pub fn notify_unsupported(field: &str) -> SeccompError {
    invalid(field, "SCMP_ACT_NOTIFY (a user-space seccomp agent on listenerPath) is not supported by corral; use another action")
}

pub fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Every OCI architecture name, for `corral features` to probe against libseccomp.
pub const ARCHES: [Arch; 24] = [
    Arch::ScmpArchNative,
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];

/// The kernel flag bits for linux.seccomp.flags.
pub fn flags(list: &[LinuxSeccompFilterFlag]) -> Result<libc::c_ulong, SeccompError> {
    let mut bits = 0;
    for (i, flag) in list.iter().enumerate() {
        bits |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // The kernel accepts it only together with a notification listener.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(invalid(
                    &format!("linux.seccomp.flags[{i}]"),
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies only to SCMP_ACT_NOTIFY, which corral does not support; remove it",
                ));
            }
        };
    }
    Ok(bits)
}

/// The argument conditions of one syscalls[] entry, as the list of rules to add.
///
/// Conditions within one rule are AND'd, and libseccomp allows each argument once per
/// rule. So, as runc does, distinct arguments go into one rule, and when an argument is
/// named twice every condition becomes a rule of its own (OR'd).
pub fn condition_sets(args: &[LinuxSeccompArg], field: &str) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let compares = args.iter().enumerate().map(|(i, a)| compare(a, &format!("{field}.args[{i}]"))).collect::<Result<Vec<_>, _>>()?;
    let repeated = args.iter().enumerate().any(|(i, a)| args[..i].iter().any(|b| b.index() == a.index()));
    Ok(if repeated { compares.into_iter().map(|c| vec![c]).collect() } else { vec![compares] })
}

fn compare(arg: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare, SeccompError> {
    if arg.index() >= MAX_ARGS {
        return Err(invalid(&format!("{field}.index"), format!("{} is out of range: syscalls have arguments 0 to 5", arg.index())));
    }
    use LinuxSeccompOperator as O;
    let op = match arg.op() {
        O::ScmpCmpNe => ScmpCompareOp::NotEqual,
        O::ScmpCmpLt => ScmpCompareOp::Less,
        O::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        O::ScmpCmpEq => ScmpCompareOp::Equal,
        O::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        O::ScmpCmpGt => ScmpCompareOp::Greater,
        // The spec's MASKED_EQ: `value` is the mask, `valueTwo` what the masked argument must equal.
        O::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
    };
    let datum = if arg.op() == O::ScmpCmpMaskedEq { arg.value_two().unwrap_or(0) } else { arg.value() };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, datum))
}
