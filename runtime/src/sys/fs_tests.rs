//! Tests of sys/fs.rs: both resolvers against symlink, `..`, loop and magic-link cases.
use super::*;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

struct TempTree(PathBuf);
impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// root/{a/b/file, link_abs -> /a, link_rel -> ../../../a/b, escape -> /../../.., loop -> loop}
fn tree(tag: &str) -> TempTree {
    let base = std::env::temp_dir().join(format!("corral-fs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/file"), b"x").unwrap();
    std::fs::write(base.join("outside"), b"o").unwrap();
    symlink("/a", root.join("link_abs")).unwrap();
    symlink("../../../a/b", root.join("a/link_rel")).unwrap();
    symlink("/../../..", root.join("escape")).unwrap();
    symlink("../outside", root.join("outside_link")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    symlink("/proc/self/root", root.join("magic")).unwrap();
    TempTree(base)
}

fn ino(fd: &OwnedFd) -> (u64, u64) {
    let st = fstat(fd).unwrap();
    (st.st_dev, st.st_ino)
}

fn host_ino(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.dev(), m.ino())
}

#[test]
fn both_resolvers_stay_inside_the_root() {
    let t = tree("resolve");
    let root_path = t.0.join("root");
    let root = open_host(&root_path, OFlag::O_DIRECTORY).unwrap();
    let cases: &[(&str, &str)] = &[
        ("/a/b/file", "a/b/file"),
        ("a/b/../b/file", "a/b/file"),
        ("/../../../a", "a"),
        ("/link_abs/b", "a/b"),
        ("/a/link_rel/file", "a/b/file"),
        ("/escape", ""),
        ("/escape/a", "a"),
        ("/..", ""),
    ];
    for (input, expect) in cases {
        let want = host_ino(&root_path.join(expect));
        for fallback in [false, true] {
            let fd = if fallback {
                open_in_root_fallback(root.as_fd(), Path::new(input), OFlag::O_PATH)
            } else {
                open_in_root(root.as_fd(), Path::new(input), OFlag::O_PATH)
            }
            .unwrap_or_else(|e| panic!("{input} (fallback {fallback}): {e}"));
            assert_eq!(ino(&fd), want, "{input} fallback={fallback}");
        }
    }
}

#[test]
fn both_resolvers_refuse_what_they_must() {
    let t = tree("refuse");
    let root = open_host(&t.0.join("root"), OFlag::O_DIRECTORY).unwrap();
    let errno = |r: io::Result<OwnedFd>| r.err().and_then(|e| e.raw_os_error());
    for fallback in [false, true] {
        let open = |p: &str, f: OFlag| {
            if fallback {
                open_in_root_fallback(root.as_fd(), Path::new(p), f)
            } else {
                open_in_root(root.as_fd(), Path::new(p), f)
            }
        };
        // ../outside from the root is clamped to /outside, which does not exist.
        assert_eq!(
            errno(open("/outside_link", OFlag::O_PATH)),
            Some(libc::ENOENT)
        );
        assert_eq!(errno(open("/loop", OFlag::O_PATH)), Some(libc::ELOOP));
        assert_eq!(
            errno(open("/a/b/file/x", OFlag::O_PATH)),
            Some(libc::ENOTDIR)
        );
        let nofollow = open("/link_abs", OFlag::O_PATH | OFlag::O_NOFOLLOW).unwrap();
        assert_eq!(file_type(&fstat(&nofollow).unwrap()), SFlag::S_IFLNK);
        let read = open("/a/b/file", OFlag::O_RDONLY).unwrap();
        assert_eq!(file_type(&fstat(&read).unwrap()), SFlag::S_IFREG);
    }
    // The magic link is not followed by openat2; the fallback reads "/proc/self/root"
    // as a plain path inside the root, which does not exist there.
    assert!(open_in_root(root.as_fd(), Path::new("/magic/etc"), OFlag::O_PATH).is_err());
    assert!(
        open_in_root_fallback(root.as_fd(), Path::new("/magic/etc"), OFlag::O_PATH).is_err()
    );
}

/// Both the openat2 path and the component walk (forced, as on a kernel without
/// openat2) refuse a symlink anywhere in the path, and resolve a clean path.
#[test]
fn no_symlinks_resolution_refuses_every_link() {
    let t = tree("nolinks");
    let root_path = t.0.join("root");
    let root = open_host(&root_path, OFlag::O_DIRECTORY).unwrap();
    for fallback in [false, true] {
        let open = |p: &str| {
            if fallback {
                open_in_root_no_symlinks_fallback(root.as_fd(), Path::new(p), OFlag::O_PATH)
            } else {
                open_in_root_no_symlinks(root.as_fd(), Path::new(p), OFlag::O_PATH)
            }
        };
        let fd = open("/a/b/../b/file").unwrap();
        assert_eq!(ino(&fd), host_ino(&root_path.join("a/b/file")));
        for linked in [
            "/link_abs",
            "/link_abs/b",
            "/a/link_rel/file",
            "/escape",
            "/magic/etc",
        ] {
            let errno = open(linked).err().and_then(|e| e.raw_os_error());
            assert_eq!(errno, Some(libc::ELOOP), "{linked} fallback={fallback}");
        }
        // ".." still cannot climb above the root.
        let fd = open("/../../a").unwrap();
        assert_eq!(ino(&fd), host_ino(&root_path.join("a")));
    }
}

/// open_beneath refuses to leave its directory or to cross a mount (here the /proc
/// mount below "/"); it needs openat2 and has no fallback.
#[test]
fn beneath_stays_on_one_mount() {
    let t = tree("beneath");
    let root = open_host(&t.0.join("root"), OFlag::O_DIRECTORY).unwrap();
    let errno = |r: io::Result<OwnedFd>| r.err().and_then(|e| e.raw_os_error());
    let none = ResolveFlag::empty();
    assert!(open_beneath(root.as_fd(), Path::new("a/b/file"), OFlag::O_RDONLY, none).is_ok());
    assert_eq!(
        errno(open_beneath(
            root.as_fd(),
            Path::new("../outside"),
            OFlag::O_PATH,
            none
        )),
        Some(libc::EXDEV)
    );
    assert_eq!(
        errno(open_beneath(
            root.as_fd(),
            Path::new("link_abs"),
            OFlag::O_PATH,
            none
        )),
        Some(libc::EXDEV)
    );
    let host_root = open_host(Path::new("/"), OFlag::O_DIRECTORY).unwrap();
    assert_eq!(
        errno(open_beneath(
            host_root.as_fd(),
            Path::new("proc/version"),
            OFlag::O_RDONLY,
            none
        )),
        Some(libc::EXDEV)
    );
}

#[test]
fn mkdir_and_create_follow_symlinks_inside_the_root() {
    let t = tree("mkdir");
    let root_path = t.0.join("root");
    let root = open_host(&root_path, OFlag::O_DIRECTORY).unwrap();
    symlink("/made/here", root_path.join("dangling")).unwrap();
    mkdir_all_in_root(
        root.as_fd(),
        Path::new("/dangling/x"),
        Mode::from_bits_truncate(0o755),
    )
    .unwrap();
    assert!(root_path.join("made/here/x").is_dir());
    mkdir_all_in_root(
        root.as_fd(),
        Path::new("/escape/up/../y"),
        Mode::from_bits_truncate(0o755),
    )
    .unwrap();
    assert!(root_path.join("y").is_dir());
    create_file_in_root(
        root.as_fd(),
        Path::new("/link_abs/new"),
        Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    assert!(root_path.join("a/new").is_file());
    let again = create_file_in_root(root.as_fd(), Path::new("/a/new"), Mode::empty());
    assert_eq!(
        again.err().and_then(|e| e.raw_os_error()),
        Some(libc::EEXIST)
    );
    symlink_in_root(
        root.as_fd(),
        Path::new("/proc/self/fd"),
        Path::new("/escape/dev/fd"),
    )
    .unwrap();
    let link = std::fs::read_link(root_path.join("dev/fd")).unwrap();
    assert_eq!(link, Path::new("/proc/self/fd"));
    unlink_in_root(root.as_fd(), Path::new("/dev/fd")).unwrap();
    assert!(!root_path.join("dev/fd").exists());
}
