//! A Policy compiled to a BPF_PROG_TYPE_CGROUP_DEVICE program, by hand.
//!
//! The kernel runs the program on every device access with a `struct bpf_cgroup_dev_ctx`
//! { access_type: u32 (access << 16 | type), major: u32, minor: u32 } in r1; it returns
//! 1 to allow, 0 to deny. The program loads the four values into r2..r5, then tests each
//! exception in turn; the first that matches returns the exception's verdict, and falling
//! off the end returns the default. Exceptions all carry the same verdict, so their order
//! does not matter.

use crate::sys::bpf::BpfInsn;

use super::policy::Policy;
use super::rules::{DevKind, DeviceSet};

// Instruction encodings (include/uapi/linux/bpf.h): class | op | source.
/// r_dst = *(u32 *)(r_src + off)
pub const LDX_MEM_W: u8 = 0x61;
/// r_dst &= imm (64-bit ALU)
pub const AND_K: u8 = 0x57;
/// r_dst >>= imm
pub const RSH_K: u8 = 0x77;
/// r_dst = r_src
pub const MOV_X: u8 = 0xbf;
/// r_dst = imm
pub const MOV_K: u8 = 0xb7;
/// if r_dst == imm goto pc + off
pub const JEQ_K: u8 = 0x15;
/// if r_dst != imm goto pc + off
pub const JNE_K: u8 = 0x55;
/// return r0
pub const EXIT: u8 = 0x95;

/// Registers: r0 result, r1 context (then scratch), r2 type, r3 access, r4 major, r5 minor.
const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

/// Offsets in struct bpf_cgroup_dev_ctx.
const CTX_ACCESS_TYPE: i16 = 0;
const CTX_MAJOR: i16 = 4;
const CTX_MINOR: i16 = 8;

/// BPF_DEVCG_DEV_BLOCK and BPF_DEVCG_DEV_CHAR.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// Marks a jump to the end of the current exception's block, patched once its length is known.
const TO_NEXT: i16 = i16::MIN;

/// The program for `policy`.
pub fn compile(policy: &Policy) -> Vec<BpfInsn> {
    let mut program = vec![
        BpfInsn::new(LDX_MEM_W, R_TYPE, R1, CTX_ACCESS_TYPE, 0),
        BpfInsn::new(AND_K, R_TYPE, 0, 0, 0xffff),
        BpfInsn::new(LDX_MEM_W, R_ACCESS, R1, CTX_ACCESS_TYPE, 0),
        BpfInsn::new(RSH_K, R_ACCESS, 0, 0, 16),
        BpfInsn::new(LDX_MEM_W, R_MAJOR, R1, CTX_MAJOR, 0),
        BpfInsn::new(LDX_MEM_W, R_MINOR, R1, CTX_MINOR, 0),
    ];
    let exception_verdict = !policy.default_allow;
    for exception in &policy.exceptions {
        program.extend(exception_block(exception, exception_verdict));
    }
    program.extend(verdict(policy.default_allow));
    program
}

/// Returns `allow` if the access matches `set`, otherwise falls through to what follows.
fn exception_block(set: &DeviceSet, allow: bool) -> Vec<BpfInsn> {
    let kind = match set.kind {
        DevKind::Char => DEV_CHAR,
        DevKind::Block => DEV_BLOCK,
    };
    let mut block = vec![BpfInsn::new(JNE_K, R_TYPE, 0, TO_NEXT, kind)];
    if let Some(major) = set.major {
        block.push(BpfInsn::new(JNE_K, R_MAJOR, 0, TO_NEXT, major as i32));
    }
    if let Some(minor) = set.minor {
        block.push(BpfInsn::new(JNE_K, R_MINOR, 0, TO_NEXT, minor as i32));
    }
    let bits = i32::from(set.access.0);
    block.push(BpfInsn::new(MOV_X, R1, R_ACCESS, 0, 0));
    if allow {
        // Allowed only if every requested bit is in the exception: access & !bits == 0.
        block.push(BpfInsn::new(AND_K, R1, 0, 0, !bits & 0xffff));
        block.push(BpfInsn::new(JNE_K, R1, 0, TO_NEXT, 0));
    } else {
        // Denied if any requested bit is in the exception: access & bits != 0.
        block.push(BpfInsn::new(AND_K, R1, 0, 0, bits));
        block.push(BpfInsn::new(JEQ_K, R1, 0, TO_NEXT, 0));
    }
    block.extend(verdict(allow));
    let len = block.len();
    for (index, insn) in block.iter_mut().enumerate() {
        if insn.off == TO_NEXT {
            // A jump offset counts from the instruction after the jump.
            insn.off = (len - index - 1) as i16;
        }
    }
    block
}

fn verdict(allow: bool) -> [BpfInsn; 2] {
    [
        BpfInsn::new(MOV_K, R0, 0, 0, i32::from(allow)),
        BpfInsn::new(EXIT, 0, 0, 0, 0),
    ]
}
