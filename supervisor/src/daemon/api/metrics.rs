//! Prometheus text exposition (format 0.0.4) of per-service numbers.

use std::fmt::Write;

/// One service's numbers; None where unknown (no live container).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub service: String,
    pub up: bool,
    pub cpu_seconds: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub restarts: u64,
    /// None without a health check.
    pub healthy: Option<bool>,
    pub oom_kills: u64,
}

type Family = (&'static str, &'static str, &'static str, fn(&Sample) -> Option<f64>);

const FAMILIES: [Family; 6] = [
    ("corral_service_up", "gauge", "1 if the service's container is running", |s| Some(f64::from(u8::from(s.up)))),
    ("corral_service_cpu_seconds_total", "counter", "CPU time used by the service's current container", |s| {
        s.cpu_seconds
    }),
    ("corral_service_memory_bytes", "gauge", "memory used by the service's container (its cgroup)", |s| {
        s.memory_bytes.map(|bytes| bytes as f64)
    }),
    ("corral_service_restarts_total", "counter", "restarts of the service", |s| Some(s.restarts as f64)),
    ("corral_service_healthy", "gauge", "1 if the service's health check passes, else 0", |s| {
        s.healthy.map(|healthy| f64::from(u8::from(healthy)))
    }),
    ("corral_service_oom_kills_total", "counter", "containers of the service killed at their memory limit", |s| {
        Some(s.oom_kills as f64)
    }),
];

pub fn render(samples: &[Sample]) -> String {
    let mut text = String::new();
    for (name, kind, help, value) in FAMILIES {
        let _ = writeln!(text, "# HELP {name} {help}.\n# TYPE {name} {kind}");
        for sample in samples {
            if let Some(value) = value(sample) {
                let _ = writeln!(text, "{name}{{service=\"{}\"}} {value}", escape(&sample.service));
            }
        }
    }
    text
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_family_with_help_and_type() {
        let web = Sample {
            service: "web".into(),
            up: true,
            cpu_seconds: Some(1.25),
            memory_bytes: Some(4096),
            restarts: 2,
            healthy: Some(true),
            oom_kills: 1,
        };
        let idle = Sample { service: "idle".into(), ..Sample::default() };
        let text = render(&[web, idle]);
        for line in [
            "# TYPE corral_service_cpu_seconds_total counter",
            "corral_service_cpu_seconds_total{service=\"web\"} 1.25",
            "corral_service_memory_bytes{service=\"web\"} 4096",
            "corral_service_restarts_total{service=\"web\"} 2",
            "corral_service_healthy{service=\"web\"} 1",
            "corral_service_oom_kills_total{service=\"web\"} 1",
            "corral_service_up{service=\"idle\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(!text.contains("corral_service_memory_bytes{service=\"idle\"}"), "unknown values are left out");
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
