
use serde_json::json;

use super::*;
use crate::device::Device;

fn service(text: &str) -> Service {
    let manifest = crate::manifest::parse(text, &Device { mem_total: 1 << 40 }).unwrap_or_else(|e| panic!("{e}"));
    manifest.services.into_values().next().expect("one service")
}

fn host(pure_cgroup_v2: bool) -> HostFacts {
    HostFacts { pure_cgroup_v2, lowest_oom_score_adj: -1000 }
}

const WEB: &str = r#"
[services.web]
rootfs = "/srv/web"
priority = "critical"
process = { args = ["/bin/web", "-v"], env = { TZ = "UTC" }, cwd = "/data", user = "1000:100" }
mounts = [{ type = "bind", source = "/srv/data", target = "/data", read_only = true },
          { type = "tmpfs", target = "/tmp", size = "1M" }]
resources = { memory = "64M", cpus = 0.5, cpuset = "0-1", pids = 32, io_weight = 500 }
"#;

#[test]
fn a_rootfs_service_gets_the_manifests_settings() {
    let config = generate(&service(WEB), "web-7", &host(false)).expect("config");
    assert_eq!(config["root"]["path"], "/srv/web");
    assert_eq!(config["process"]["args"], json!(["/bin/web", "-v"]));
    let env = config["process"]["env"].as_array().expect("env");
    assert!(env.contains(&json!("TZ=UTC")) && env.iter().any(|e| e.as_str().is_some_and(|e| e.starts_with("PATH="))));
    assert_eq!(config["process"]["cwd"], "/data");
    assert_eq!(config["process"]["user"], json!({"uid": 1000, "gid": 100}));
    assert_eq!(config["process"]["oomScoreAdj"], -900);
    let mounts = config["mounts"].as_array().expect("mounts");
    assert!(mounts.contains(&json!({"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "rprivate", "ro"]})));
    assert!(mounts.contains(&json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1048576"]})));
    let resources = &config["linux"]["resources"];
    assert_eq!(resources["memory"]["limit"], 64 << 20);
    assert_eq!((resources["cpu"]["quota"].clone(), resources["cpu"]["period"].clone()), (json!(50_000), json!(100_000)));
    assert_eq!(resources["cpu"]["cpus"], "0-1");
    assert_eq!(resources["pids"]["limit"], 32);
    assert_eq!(resources["cpu"]["shares"], 10240);
    assert_eq!(resources["blockIO"]["weight"], 50);
    assert_eq!(config["linux"]["cgroupsPath"], "/corral/web-7");
    let namespaces = config["linux"]["namespaces"].as_array().expect("namespaces");
    assert!(namespaces.contains(&json!({"type": "network"})), "network = none by default");
}

#[test]
fn pure_v2_weights_are_written_as_they_are_and_host_network_has_no_namespace() {
    let text = WEB.replace("priority = \"critical\"", "priority = \"best-effort\"\nnetwork = \"host\"");
    let config = generate(&service(&text), "web-1", &host(true)).expect("config");
    let unified = &config["linux"]["resources"]["unified"];
    assert_eq!((unified["cpu.weight"].clone(), unified["io.weight"].clone()), (json!("10"), json!("500")));
    assert!(config["linux"]["resources"]["cpu"].get("shares").is_none());
    let namespaces = config["linux"]["namespaces"].as_array().expect("namespaces");
    assert!(!namespaces.iter().any(|ns| ns["type"] == "network"));
    assert!(config.get("hooks").is_none());
}

#[test]
fn a_critical_service_gets_the_lowest_oom_score_adj_the_host_allows() {
    let facts = HostFacts { pure_cgroup_v2: false, lowest_oom_score_adj: 0 };
    let config = generate(&service(WEB), "web-1", &facts).expect("config");
    assert_eq!(config["process"]["oomScoreAdj"], 0, "not below corrald's own without CAP_SYS_RESOURCE");
    let best_effort = WEB.replace("\"critical\"", "\"best-effort\"");
    assert_eq!(generate(&service(&best_effort), "web-2", &facts).expect("config")["process"]["oomScoreAdj"], 800);
}

#[test]
fn devices_are_passed_through_with_an_allow_rule() {
    let text = "[services.s]\nrootfs = \"/r\"\nprocess = { args = [\"/x\"] }\ndevices = [\"/dev/null\"]\n";
    let config = generate(&service(text), "s-1", &host(false)).expect("config");
    let device = &config["linux"]["devices"][0];
    assert_eq!((device["path"].clone(), device["type"].clone(), device["major"].clone(), device["minor"].clone()), (json!("/dev/null"), json!("c"), json!(1), json!(3)));
    let rules = config["linux"]["resources"]["devices"].as_array().expect("rules");
    assert_eq!(rules.last(), Some(&json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"})));
}
