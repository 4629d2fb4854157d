//! Manifest parsing: a full valid manifest, and bad ones whose every error must be
//! reported with its position and service.

use std::time::Duration;

use super::*;

const DEVICE: Device = Device { mem_total: 1 << 30 };

const FULL: &str = r#"
version = 1

[services.db]
rootfs = "/var/lib/corral/images/db"
priority = "critical"
restart = "always"

[services.db.process]
args = ["/usr/bin/db", "--data", "/data"]
env = { TZ = "UTC" }
env_files = ["/etc/corral/db.env"]
cwd = "/data"
user = "1000:1001"

[[services.db.mounts]]
type = "bind"
source = "/srv/db"
target = "/data"

[[services.db.mounts]]
type = "tmpfs"
target = "/tmp"
size = "16M"

[services.db.resources]
memory = "256M"
cpus = 1.5
cpuset = "0-1"
pids = 128
io_weight = 500

[services.db.health]
tcp = { port = 5432 }
interval = "5s"
timeout = "1s"
retries = 2
start_period = "30s"

[services.db.logs]
max_size = "2M"
keep = 5

[services.gateway]
bundle = "/var/lib/corral/bundles/gateway"
network = "host"
devices = ["/dev/ttyUSB0"]
depends_on = { db = "healthy" }

[services.gateway.restart]
policy = "on-failure"
max = 5
backoff = { initial = "200ms", factor = 3, cap = "20s", jitter = 0.2, reset_after = "2m" }

[services.gateway.stop]
signal = "SIGINT"
grace = "3s"
"#;

#[test]
fn full_manifest() {
    let manifest = parse(FULL, &DEVICE).unwrap();
    let db = &manifest.services["db"];
    let process = db.container.process.as_ref().unwrap();
    assert_eq!(process.args[0], "/usr/bin/db");
    assert_eq!(process.user, Some(User { uid: 1000, gid: 1001 }));
    assert_eq!(process.env["TZ"], "UTC");
    assert_eq!(db.container.mounts.len(), 2);
    assert_eq!(db.container.mounts[1], Mount::Tmpfs { target: "/tmp".into(), size: Some(16 << 20) });
    assert_eq!(db.container.resources.memory, Some(256 << 20));
    assert_eq!(db.container.resources.cpus, Some(1.5));
    assert_eq!(db.container.priority, Priority::Critical);
    assert_eq!(db.supervision.restart, RestartPolicy::Always);
    let health = db.supervision.health.as_ref().unwrap();
    assert_eq!(health.probe, Probe::Tcp { port: 5432 });
    assert_eq!((health.interval, health.retries), (Duration::from_secs(5), 2));
    assert_eq!(db.supervision.logs, LogSettings { max_size: Some(2 << 20), keep: Some(5) });

    let gateway = &manifest.services["gateway"];
    assert_eq!(gateway.container.image, Image::Bundle("/var/lib/corral/bundles/gateway".into()));
    assert_eq!(gateway.container.process, None);
    assert_eq!(gateway.container.network, NetworkMode::Host);
    assert_eq!(gateway.supervision.restart, RestartPolicy::OnFailure { max: Some(5) });
    assert_eq!(gateway.supervision.backoff.initial, Duration::from_millis(200));
    assert_eq!(gateway.supervision.backoff.factor, 3.0);
    assert_eq!(
        gateway.supervision.depends_on,
        vec![Dependency { service: "db".into(), condition: Condition::Healthy }]
    );
    assert_eq!(gateway.supervision.stop, StopSpec { signal: libc::SIGINT, grace: Duration::from_secs(3) });
}

#[test]
fn defaults() {
    let manifest = parse("[services.a]\nrootfs = \"/r\"\nprocess = { args = [\"/a\"] }\n", &DEVICE).unwrap();
    let a = &manifest.services["a"];
    assert_eq!(a.container.network, NetworkMode::None);
    assert_eq!(a.container.priority, Priority::Normal);
    assert_eq!(a.supervision.restart, RestartPolicy::Always);
    assert_eq!(a.supervision.backoff, Backoff::default());
    assert_eq!(a.supervision.stop, StopSpec::default());
    assert_eq!(a.supervision.logs, LogSettings { max_size: None, keep: None });
    assert!(parse("", &DEVICE).unwrap().services.is_empty());
}

/// (line, column, service, words the message must contain)
type Expected = (usize, usize, Option<&'static str>, &'static str);

fn assert_errors(text: &str, device: &Device, want: &[Expected]) {
    let errors = parse(text, device).expect_err("manifest should be refused").0;
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), want.len(), "errors: {got:#?}");
    for (error, (line, column, service, words)) in errors.iter().zip(want) {
        let shown = error.to_string();
        assert_eq!((error.line, error.column), (*line, *column), "{shown}");
        assert_eq!(error.service.as_deref(), *service, "{shown}");
        assert!(error.message.contains(words), "{shown:?} lacks {words:?}");
    }
}

#[test]
fn every_field_error_is_reported() {
    let text = r#"[services.web]
rootfs = "relative/path"
network = "bridge"
colour = "blue"
[services.web.process]
args = []
cwd = "tmp"
user = "www-data"
[services.web.resources]
memory = "64Q"
pids = 0
io_weight = 20000
[services.web.restart]
policy = "always"
max = 3
backoff = { initial = "0s", factor = 0.5, jitter = 2 }
[services.web.health]
interval = "10"
[services.web.stop]
signal = "SIGFOO"
grace = "1x"
"#;
    let want: &[Expected] = &[
        (2, 10, Some("web"), "rootfs: \"relative/path\" must be an absolute path"),
        (3, 11, Some("web"), "network: unknown variant `bridge`"),
        (4, 1, Some("web"), "unknown key `colour`"),
        (6, 8, Some("web"), "args: needs a program"),
        (7, 7, Some("web"), "cwd: \"tmp\" must be an absolute path"),
        (8, 8, Some("web"), "user: must be a numeric uid"),
        (10, 10, Some("web"), "resources.memory: invalid size \"64Q\""),
        (11, 8, Some("web"), "resources.pids: must be at least 1"),
        (12, 13, Some("web"), "resources.io_weight: must be between 1 and 10000"),
        (15, 7, Some("web"), "restart.max: only applies to policy \"on-failure\""),
        (16, 23, Some("web"), "restart.backoff.initial: must be longer than 0s"),
        (16, 38, Some("web"), "restart.backoff.factor: must be between 1 and 100"),
        (16, 52, Some("web"), "restart.backoff.jitter: must be between 0 and 1"),
        (17, 1, Some("web"), "health: needs one of `exec`, `http` or `tcp`"),
        (18, 12, Some("web"), "health.interval: invalid duration \"10\""),
        (20, 10, Some("web"), "stop.signal: unknown signal \"SIGFOO\""),
        (21, 9, Some("web"), "stop.grace: invalid duration \"1x\""),
    ];
    assert_errors(text, &DEVICE, want);
}

#[test]
fn errors_in_several_services_are_all_reported() {
    let text = r#"[services.a]
process = { args = ["/a"] }
[services.b]
rootfs = "/b"
[services.Bad]
rootfs = "/c"
process = { args = ["/c"] }
[[services.Bad.mounts]]
type = "bind"
target = "/"
"#;
    let want: &[Expected] = &[
        (1, 1, Some("a"), "missing `rootfs`"),
        (3, 1, Some("b"), "missing `process`"),
        (5, 11, Some("Bad"), "invalid service name \"Bad\""),
        (8, 1, Some("Bad"), "missing `mounts[0].source`"),
        (10, 10, Some("Bad"), "mounts[0].target: \"/\" cannot be \"/\""),
    ];
    assert_errors(text, &DEVICE, want);
}

#[test]
fn dependency_errors() {
    let text = r#"[services.a]
rootfs = "/a"
process = { args = ["/a"] }
depends_on = ["b", "ghost", "a"]
[services.b]
rootfs = "/b"
process = { args = ["/b"] }
depends_on = { c = "started" }
[services.c]
rootfs = "/c"
process = { args = ["/c"] }
depends_on = { a = "healthy" }
"#;
    let want: &[Expected] = &[
        (4, 15, Some("a"), "dependency cycle a -> b -> c -> a"),
        (4, 20, Some("a"), "unknown service \"ghost\""),
        (4, 29, Some("a"), "cannot depend on itself"),
        (12, 16, Some("c"), "\"a\" has no health check"),
    ];
    assert_errors(text, &DEVICE, want);
}

#[test]
fn memory_over_the_device_is_refused_with_the_numbers() {
    let text = r#"[services.a]
rootfs = "/a"
process = { args = ["/a"] }
resources = { memory = "768M" }
[services.b]
rootfs = "/b"
process = { args = ["/b"] }
resources = { memory = "512M" }
"#;
    let want: &[Expected] = &[(
        8,
        24,
        Some("b"),
        "memory limits add up to 1.2 GiB (1342177280 bytes: a 768 MiB + b 512 MiB), more than the device's 1 GiB (1073741824 bytes, MemTotal)",
    )];
    assert_errors(text, &DEVICE, want);
    assert!(parse(text, &Device { mem_total: 2 << 30 }).is_ok());
}

#[test]
fn syntax_errors_are_all_reported_with_their_service() {
    let text = "[services.a]\nrootfs = \"/a\nprocess = 1\n[services.b]\nrootfs = = 2\n";
    let errors = parse(text, &DEVICE).unwrap_err().0;
    assert!(errors.len() >= 2, "{errors:#?}");
    assert_eq!((errors[0].line, errors[0].service.as_deref()), (2, Some("a")));
    let last = errors.last().unwrap();
    assert_eq!((last.line, last.service.as_deref()), (5, Some("b")));
}

#[test]
fn health_probe_forms() {
    let cases: [(&str, Result<Probe, &str>); 5] = [
        ("exec = [\"/bin/check\"]", Ok(Probe::Exec(vec!["/bin/check".into()]))),
        ("http = { port = 8080, path = \"/healthz\" }", Ok(Probe::Http { port: 8080, path: "/healthz".into() })),
        ("http = { port = 8080 }", Ok(Probe::Http { port: 8080, path: "/".into() })),
        ("tcp = { port = 70000 }", Err("health.tcp.port: must be between 1 and 65535")),
        ("tcp = { port = 1 }\nexec = [\"/x\"]", Err("give only one of")),
    ];
    for (probe, want) in cases {
        let text =
            format!("[services.a]\nrootfs = \"/a\"\nprocess = {{ args = [\"/a\"] }}\n[services.a.health]\n{probe}\n");
        match (parse(&text, &DEVICE), want) {
            (Ok(manifest), Ok(want)) => {
                assert_eq!(manifest.services["a"].supervision.health.as_ref().unwrap().probe, want)
            }
            (Err(errors), Err(words)) => assert!(errors.to_string().contains(words), "{errors}"),
            (got, want) => panic!("{probe}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn unknown_top_level_key_and_version() {
    let want: &[Expected] = &[(1, 11, None, "unsupported format version 2"), (2, 1, None, "unknown key `service`")];
    assert_errors("version = 2\nservice = {}\n", &DEVICE, want);
}

#[test]
fn errors_display_one_per_line() {
    let errors = parse("[services.a]\nrootfs = 1\n", &DEVICE).unwrap_err();
    let shown = errors.to_string();
    assert!(shown.starts_with("manifest refused: 2 errors\n  "), "{shown}");
    assert!(shown.contains("2:10: service \"a\": rootfs: invalid type: integer `1`, expected a string"), "{shown}");
}

#[test]
fn log_limits() {
    let with = |logs: &str| {
        format!("[services.a]\nrootfs = \"/a\"\nprocess = {{ args = [\"/a\"] }}\n[services.a.logs]\n{logs}\n")
    };
    let logs = |text: &str| parse(&with(text), &DEVICE).map(|m| m.services["a"].supervision.logs);
    assert_eq!(logs("max_size = 4096"), Ok(LogSettings { max_size: Some(4096), keep: None }));
    assert_eq!(logs("keep = 0"), Ok(LogSettings { max_size: None, keep: Some(0) }));
    assert_eq!(logs("keep = 1000\nmax_size = \"1K\""), Ok(LogSettings { max_size: Some(1024), keep: Some(1000) }));

    let text = with("max_size = \"0M\"\nkeep = 1001\nsize = 5");
    let want: &[Expected] = &[
        (5, 12, Some("a"), "logs.max_size: must be more than 0"),
        (6, 8, Some("a"), "logs.keep: must be between 0 and 1000"),
        (7, 1, Some("a"), "unknown key `logs.size`"),
    ];
    assert_errors(&text, &DEVICE, want);
    let text = with("max_size = \"big\"\nkeep = -1");
    let want: &[Expected] = &[
        (5, 12, Some("a"), "logs.max_size: invalid size \"big\""),
        (6, 8, Some("a"), "logs.keep: must be between 0 and 1000"),
    ];
    assert_errors(&text, &DEVICE, want);
    let text = "[services.a]\nrootfs = \"/a\"\nprocess = { args = [\"/a\"] }\nlogs = \"2M\"\n";
    assert_errors(text, &DEVICE, &[(4, 8, Some("a"), "logs: expected a table, found string")]);
}
