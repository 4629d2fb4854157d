//! A manifest service as JSON, for `inspect`: the definition corrald runs it from,
//! defaults filled in, durations and sizes as the manifest writes them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::manifest::{
    Condition, ContainerSpec, HealthCheck, Image, Mount, NetworkMode, Priority, Probe, RestartPolicy, Service,
    Supervision,
};

pub fn definition(service: &Service) -> Value {
    let mut value = container(&service.container);
    let supervision = supervision(&service.supervision);
    if let (Some(into), Value::Object(from)) = (value.as_object_mut(), supervision) {
        into.extend(from);
    }
    value
}

fn container(spec: &ContainerSpec) -> Value {
    let (kind, path) = match &spec.image {
        Image::Rootfs(path) => ("rootfs", path),
        Image::Bundle(path) => ("bundle", path),
    };
    let process = spec.process.as_ref().map(|process| {
        let user = process.user.map(|user| format!("{}:{}", user.uid, user.gid));
        json!({ "args": process.args, "env": process.env, "env_files": process.env_files, "cwd": process.cwd, "user": user })
    });
    let resources = &spec.resources;
    json!({
        kind: path,
        "process": process,
        "mounts": spec.mounts.iter().map(mount).collect::<Vec<_>>(),
        "devices": spec.devices,
        "network": match spec.network { NetworkMode::Host => "host", NetworkMode::None => "none" },
        "resources": {
            "memory": resources.memory,
            "cpus": resources.cpus,
            "cpuset": resources.cpuset,
            "pids": resources.pids,
            "io_weight": resources.io_weight,
        },
        "priority": match spec.priority {
            Priority::Critical => "critical",
            Priority::Normal => "normal",
            Priority::BestEffort => "best-effort",
        },
    })
}

fn mount(mount: &Mount) -> Value {
    match mount {
        Mount::Bind { source, target, read_only } => {
            json!({ "type": "bind", "source": source, "target": target, "read_only": read_only })
        }
        Mount::Tmpfs { target, size } => json!({ "type": "tmpfs", "target": target, "size": size }),
    }
}

fn supervision(supervision: &Supervision) -> Value {
    let (policy, max) = match supervision.restart {
        RestartPolicy::Always => ("always", None),
        RestartPolicy::OnFailure { max } => ("on-failure", max),
        RestartPolicy::UnlessStopped => ("unless-stopped", None),
        RestartPolicy::Never => ("never", None),
    };
    let backoff = &supervision.backoff;
    let depends_on: serde_json::Map<String, Value> = supervision
        .depends_on
        .iter()
        .map(|dependency| {
            let condition = match dependency.condition {
                Condition::Started => "started",
                Condition::Healthy => "healthy",
            };
            (dependency.service.clone(), json!(condition))
        })
        .collect();
    json!({
        "restart": {
            "policy": policy,
            "max": max,
            "backoff": {
                "initial": duration(backoff.initial),
                "factor": backoff.factor,
                "cap": duration(backoff.cap),
                "jitter": backoff.jitter,
                "reset_after": duration(backoff.reset_after),
            },
        },
        "health": supervision.health.as_ref().map(health),
        "depends_on": depends_on,
        "stop": { "signal": supervision.stop.signal, "grace": duration(supervision.stop.grace) },
        "logs": { "max_size": supervision.logs.max_size, "keep": supervision.logs.keep },
    })
}

fn health(check: &HealthCheck) -> Value {
    let probe = match &check.probe {
        Probe::Exec(args) => json!({ "exec": args }),
        Probe::Http { port, path } => json!({ "http": { "port": port, "path": path } }),
        Probe::Tcp { port } => json!({ "tcp": { "port": port } }),
    };
    json!({
        "probe": probe,
        "interval": duration(check.interval),
        "timeout": duration(check.timeout),
        "retries": check.retries,
        "start_period": duration(check.start_period),
    })
}

/// "500ms", "10s", "90s": what the manifest accepts back.
pub fn duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;

    #[test]
    fn renders_a_parsed_service() {
        let text = "[services.web]\nrootfs = \"/srv/web\"\nprocess = { args = [\"/bin/httpd\"] }\n\
                    resources = { memory = \"16M\" }\nrestart = { policy = \"on-failure\", max = 3 }\n\
                    health = { http = { port = 80 }, interval = \"500ms\" }\n";
        let device = Device { mem_total: 1 << 30 };
        let manifest = crate::manifest::parse(text, &device).expect("a valid manifest");
        let value = definition(&manifest.services["web"]);
        assert_eq!(value["rootfs"], "/srv/web");
        assert_eq!(value["process"]["args"], json!(["/bin/httpd"]));
        assert_eq!(value["resources"]["memory"], 16 << 20);
        assert_eq!(value["restart"]["policy"], "on-failure");
        assert_eq!(value["restart"]["max"], 3);
        assert_eq!(value["health"]["probe"]["http"], json!({ "port": 80, "path": "/" }));
        assert_eq!(value["health"]["interval"], "500ms");
        assert_eq!(value["network"], "none");
    }
}
