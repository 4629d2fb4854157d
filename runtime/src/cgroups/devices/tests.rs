//! Rule folding, and the eBPF program run by a small interpreter of the instructions it
//! uses, checked against the same table of accesses (so v2 is tested on a v1 host too).

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup};

use super::program::{self, compile};
use super::rules::{Access, DevKind, Rule, effective_rules};
use super::{DeviceError, Policy};
use crate::sys::bpf::BpfInsn;

const R: Access = Access::READ;
const W: Access = Access::WRITE;
const M: Access = Access::MKNOD;
const RW: Access = Access(6);
use DevKind::{Block, Char};

fn rules_json(json: &str) -> Vec<LinuxDeviceCgroup> {
    serde_json::from_str(json).expect("test rules parse")
}

fn devices_json(json: &str) -> Vec<LinuxDevice> {
    serde_json::from_str(json).expect("test devices parse")
}

fn policy(rules: &str, devices: &str) -> Result<Policy, DeviceError> {
    Policy::fold(&effective_rules(
        &rules_json(rules),
        &devices_json(devices),
    )?)
}

/// Runs `prog` on one access the way the kernel would, returning r0.
fn run(prog: &[BpfInsn], kind: DevKind, major: u32, minor: u32, access: Access) -> u64 {
    let kind_bits = match kind {
        Block => 1,
        Char => 2,
    };
    let ctx = [(u32::from(access.0) << 16) | kind_bits, major, minor];
    let mut reg = [0u64; 11];
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 10_000, "program does not terminate");
        let insn = prog
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} ran off the program"));
        let (dst, src, imm) = (
            usize::from(insn.dst()),
            usize::from(insn.src()),
            insn.imm as i64 as u64,
        );
        let jump = |taken: bool| if taken { insn.off as isize } else { 0 };
        let mut offset = 0isize;
        match insn.code {
            program::LDX_MEM_W => {
                assert_eq!(src, 1, "loads only from the context");
                let field = usize::try_from(insn.off / 4).unwrap();
                assert_eq!(insn.off % 4, 0, "aligned u32 loads only");
                reg[dst] = u64::from(ctx[field]);
            }
            program::AND_K => reg[dst] &= imm,
            program::RSH_K => reg[dst] >>= imm,
            program::MOV_X => reg[dst] = reg[src],
            program::MOV_K => reg[dst] = imm,
            program::JEQ_K => offset = jump(reg[dst] == imm),
            program::JNE_K => offset = jump(reg[dst] != imm),
            program::EXIT => return reg[0],
            code => panic!("unexpected opcode {code:#x}"),
        }
        pc = (pc as isize + 1 + offset) as usize;
    }
}

/// (kind, major, minor, access, allowed?)
type Case = (DevKind, u32, u32, Access, bool);

/// Checks the policy, and the compiled program under the interpreter, against `cases`.
fn check(policy: &Policy, cases: &[Case]) {
    let prog = compile(policy);
    for &(kind, major, minor, access, want) in cases {
        let what = format!("{kind:?} {major}:{minor} {access} under {policy:?}");
        assert_eq!(
            policy.allows(kind, major, minor, access),
            want,
            "policy: {what}"
        );
        assert_eq!(
            run(&prog, kind, major, minor, access),
            u64::from(want),
            "program: {what}"
        );
    }
}

/// What every container gets with no rules at all.
const STANDARD: [Case; 12] = [
    (Char, 1, 3, RW, true),
    (Char, 1, 3, M, true),
    (Char, 1, 5, R, true),
    (Char, 1, 9, R, true),
    (Char, 5, 2, RW, true),
    (Char, 136, 7, RW, true),
    (Char, 1, 1, R, false),
    (Char, 1, 11, RW, false),
    (Char, 1, 11, M, false),
    (Char, 5, 1, RW, false),
    (Block, 8, 0, M, false),
    (Block, 8, 0, R, false),
];

#[test]
fn no_rules_allows_only_standard_devices() {
    let p = policy("[]", "[]").unwrap();
    assert!(!p.default_allow);
    check(&p, &STANDARD);
}

/// The runc 1.0-rc bug: an allow-only list must not turn into "everything but these".
#[test]
fn allow_only_list_is_not_a_deny_list() {
    let p = policy(
        r#"[{"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}]"#,
        "[]",
    )
    .unwrap();
    check(
        &p,
        &[
            (Block, 8, 0, R, true),
            (Block, 8, 0, W, false),
            (Block, 8, 1, R, false),
            (Char, 1, 1, R, false),
        ],
    );
    let p = policy(
        r#"[{"allow": false, "type": "c", "major": 1, "minor": 1, "access": "rwm"}]"#,
        "[]",
    )
    .unwrap();
    check(
        &p,
        &[
            (Char, 1, 1, R, false),
            (Block, 8, 0, R, false),
            (Char, 1, 3, R, true),
        ],
    );
}

#[test]
fn runc_style_deny_all_first_keeps_standard_devices() {
    let p = policy(r#"[{"allow": false, "access": "rwm"}]"#, "[]").unwrap();
    check(&p, &STANDARD);
}

#[test]
fn later_rules_win() {
    let rules = r#"[
        {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "rwm"},
        {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "m"}]"#;
    check(
        &policy(rules, "[]").unwrap(),
        &[(Block, 8, 0, RW, true), (Block, 8, 0, M, false)],
    );
    let rules = r#"[
        {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "rwm"},
        {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "rwm"}]"#;
    check(&policy(rules, "[]").unwrap(), &[(Block, 8, 0, M, true)]);
}

#[test]
fn wildcards_and_type_a() {
    let rules = r#"[{"allow": true, "type": "c", "major": 188, "access": "rw"},
                    {"allow": true, "major": 10, "minor": 200, "access": "rwm"}]"#;
    let p = policy(rules, "[]").unwrap();
    check(
        &p,
        &[
            (Char, 188, 0, RW, true),
            (Char, 188, 5, M, false),
            (Block, 188, 0, R, false),
            (Char, 10, 200, M, true),
            (Block, 10, 200, R, true),
            (Char, 10, 201, R, false),
        ],
    );
}

#[test]
fn allow_all_then_deny_some() {
    let rules = r#"[{"allow": true, "access": "rwm"},
                    {"allow": false, "type": "c", "major": 1, "minor": 1, "access": "rw"},
                    {"allow": false, "type": "b", "access": "m"}]"#;
    let p = policy(rules, "[]").unwrap();
    assert!(p.default_allow);
    check(
        &p,
        &[
            (Char, 1, 1, R, false),
            (Char, 1, 1, M, true),
            (Block, 8, 0, M, false),
            (Block, 8, 0, RW, true),
            (Char, 4, 0, RW, true),
            (Char, 1, 3, RW, true),
        ],
    );
}

#[test]
fn config_devices_are_allowed() {
    let devices = r#"[{"path": "/dev/mykmsg", "type": "c", "major": 1, "minor": 11},
                      {"path": "/dev/sdz", "type": "b", "major": 8, "minor": 16},
                      {"path": "/dev/fifo", "type": "p"}]"#;
    let p = policy("[]", devices).unwrap();
    check(
        &p,
        &[
            (Char, 1, 11, RW, true),
            (Char, 1, 11, M, true),
            (Block, 8, 16, RW, true),
            (Block, 8, 0, R, false),
        ],
    );
}

#[test]
fn a_hole_in_a_wildcard_is_refused_not_ignored() {
    let rules = r#"[{"allow": true, "type": "c", "major": 4, "access": "rw"},
                    {"allow": false, "type": "c", "major": 4, "minor": 1, "access": "w"}]"#;
    let err = policy(rules, "[]").unwrap_err();
    assert!(matches!(err, DeviceError::Unrepresentable { .. }), "{err}");
    // The same deny on a device no exception touches is simply a no-op.
    let rules = r#"[{"allow": true, "type": "c", "major": 4, "access": "rw"},
                    {"allow": false, "type": "c", "major": 4, "minor": 1, "access": "m"}]"#;
    check(
        &policy(rules, "[]").unwrap(),
        &[(Char, 4, 1, RW, true), (Char, 4, 1, M, false)],
    );
}

#[test]
fn bad_rules_are_refused_with_their_index() {
    let err = policy(
        r#"[{"allow": false}, {"allow": true, "type": "c", "access": "rx"}]"#,
        "[]",
    )
    .unwrap_err();
    assert!(err.to_string().contains("devices[1]"), "{err}");
    let err = policy(r#"[{"allow": true, "type": "c", "major": -5}]"#, "[]").unwrap_err();
    assert!(err.to_string().contains("devices[0]: major -5"), "{err}");
    let err = policy(
        "[]",
        r#"[{"path": "/dev/x", "type": "c", "major": 1, "minor": 4294967296}]"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("/dev/x"), "{err}");
}

#[test]
fn v1_lines_use_kernel_syntax() {
    let p = policy(
        r#"[{"allow": true, "type": "b", "major": 8, "access": "rm"}]"#,
        "[]",
    )
    .unwrap();
    let lines: Vec<String> = p.exceptions.iter().map(ToString::to_string).collect();
    assert!(lines.contains(&"b 8:* rm".to_string()), "{lines:?}");
    assert!(lines.contains(&"c 136:* rwm".to_string()), "{lines:?}");
    assert!(lines.contains(&"c 1:3 rwm".to_string()), "{lines:?}");
}

#[test]
fn effective_rules_start_with_deny_all() {
    let rules = effective_rules(&rules_json(r#"[{"allow": true, "access": "rwm"}]"#), &[]).unwrap();
    assert_eq!(rules[0], Rule::All { allow: false });
    assert_eq!(rules[1], Rule::All { allow: true });
}

#[test]
fn jumps_stay_inside_the_program() {
    let p = policy(
        r#"[{"allow": true, "type": "c", "major": 4, "access": "rw"}]"#,
        "[]",
    )
    .unwrap();
    let prog = compile(&p);
    for (pc, insn) in prog.iter().enumerate() {
        if matches!(insn.code, program::JEQ_K | program::JNE_K) {
            let target = pc as isize + 1 + insn.off as isize;
            assert!(
                (0..prog.len() as isize).contains(&target),
                "jump at {pc} to {target}"
            );
        }
    }
    assert_eq!(prog.last().map(|i| i.code), Some(program::EXIT));
}
