//! How corralctl prints what corrald answers: the status table and event lines.

use serde_json::Value;

use corral_supervisor::units::format_size;

const COLUMNS: [&str; 8] = ["SERVICE", "STATE", "HEALTH", "RESTARTS", "UPTIME", "MEMORY", "CPU", "LAST EXIT"];

/// The status table of `GET /v1/services`.
pub fn status_table(status: &Value) -> String {
    let services = status["services"].as_array().cloned().unwrap_or_default();
    let rows: Vec<[String; 8]> = services.iter().map(row).collect();
    let mut widths = COLUMNS.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = COLUMNS.map(str::to_owned);
    std::iter::once(&header).chain(&rows).map(|row| line(row, &widths)).collect()
}

fn line(cells: &[String; 8], widths: &[usize; 8]) -> String {
    let padded: Vec<String> = cells.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
    format!("{}\n", padded.join("  ").trim_end())
}

fn row(service: &Value) -> [String; 8] {
    let text = |key: &str| service[key].as_str().unwrap_or("-").to_owned();
    [
        text("service"),
        text("state"),
        text("health"),
        service["restarts"].as_u64().unwrap_or(0).to_string(),
        service["uptime_seconds"].as_f64().map_or("-".into(), |secs| uptime(secs as u64)),
        service["memory_bytes"].as_u64().map_or("-".into(), |bytes| format_size(bytes).replace(' ', "")),
        service["cpu_seconds"].as_f64().map_or("-".into(), |secs| format!("{secs:.2}s")),
        text("last_exit"),
    ]
}

/// "42s", "3m05s", "2h07m", "3d04h".
pub fn uptime(secs: u64) -> String {
    let (minutes, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    match () {
        _ if days > 0 => format!("{days}d{:02}h", hours % 24),
        _ if hours > 0 => format!("{hours}h{:02}m", minutes % 60),
        _ if minutes > 0 => format!("{minutes}m{:02}s", secs % 60),
        _ => format!("{secs}s"),
    }
}

/// One event of `GET /v1/events` as a line: time, service, what happened.
pub fn event_line(event: &Value) -> String {
    let time = event["time"].as_f64().map_or("-".into(), |time| utc(time as i64));
    let service = event["service"].as_str().unwrap_or("-");
    let text = |key: &str| event[key].as_str().unwrap_or("-").to_owned();
    let what = match event["type"].as_str().unwrap_or("") {
        "state" | "health" => {
            let from = event["from"].as_str().unwrap_or("new");
            let reason = event["reason"].as_str().map(|reason| format!(" ({reason})")).unwrap_or_default();
            format!("{} {from} -> {}{reason}", text("type"), text("to"))
        }
        kind => format!("{kind}: {}", text("reason")),
    };
    format!("{time}  {service}  {what}")
}

/// Seconds since the epoch as "2026-11-30T02:03:04Z".
pub fn utc(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_764_468_062), "2025-11-30T02:01:02Z");
        assert_eq!((uptime(42), uptime(185), uptime(7620), uptime(273_600)), ("42s".into(), "3m05s".into(), "2h07m".into(), "3d04h".into()));
    }

    #[test]
    fn prints_a_table_and_events() {
        let status = json!({ "services": [{
            "service": "web", "state": "running", "health": "healthy", "restarts": 2,
            "uptime_seconds": 65.0, "memory_bytes": 3_145_728, "cpu_seconds": 0.5, "last_exit": null
        }]});
        let table = status_table(&status);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "SERVICE  STATE    HEALTH   RESTARTS  UPTIME  MEMORY  CPU    LAST EXIT");
        assert_eq!(lines[1], "web      running  healthy  2         1m05s   3MiB    0.50s  -");
        let event = json!({ "time": 0.0, "service": "web", "type": "oom_kill", "reason": "OOMKilled" });
        assert_eq!(event_line(&event), "1970-01-01T00:00:00Z  web  oom_kill: OOMKilled");
        let event = json!({ "time": 0.0, "service": "web", "type": "state", "from": "running", "to": "stopped", "reason": "stopped by the operator" });
        assert_eq!(event_line(&event), "1970-01-01T00:00:00Z  web  state running -> stopped (stopped by the operator)");
    }
}
