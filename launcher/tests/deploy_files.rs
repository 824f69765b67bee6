//! The deployment files hold together without a Docker engine (none runs here): the dashboards
//! parse and query only metrics that exist, Prometheus scrapes every service that
//! docker-compose.yml runs, and compose's references (depends_on, secrets, healthchecks,
//! mounted files) point at things that exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

fn yaml(relative: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Metric names the Rust code registers: the string literals of the catalog files that look
/// like Herald's metric names.
fn catalog() -> BTreeSet<String> {
    let files = [
        "crates/herald-service/src/metrics.rs",
        "subgraphs/notifications/src/pipeline/metrics.rs",
    ];
    let mut names = BTreeSet::new();
    for file in files {
        for literal in read(file).split('"').skip(1).step_by(2) {
            let prefixed = ["herald_", "http_server_", "graphql_server_"]
                .iter()
                .any(|p| literal.starts_with(p));
            if prefixed && literal.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                names.insert(literal.to_owned());
            }
        }
    }
    names
}

/// What hive-router 0.2.19 exposes at `/metrics` (read off a running `herald-router`; the
/// engine's OpenTelemetry names with dots as underscores and the unit as a suffix), the
/// Prometheus process collector's and Prometheus's own `up`.
const OTHER_METRICS: &[&str] = &[
    "hive_router_graphql_errors_total",
    "hive_router_request_overhead_duration_seconds",
    "hive_router_request_external_wait_duration_seconds",
    "hive_router_parse_cache_requests_total",
    "hive_router_validate_cache_requests_total",
    "hive_router_normalize_cache_requests_total",
    "hive_router_plan_cache_requests_total",
    "hive_router_supergraph_poll_total",
    "hive_router_supergraph_process_duration_seconds",
    "hive_router_subscriptions_clients_active",
    "hive_router_subscriptions_subgraphs_active",
    "http_server_request_duration_seconds",
    "http_server_active_requests",
    "http_server_response_body_size_bytes",
    "http_client_request_duration_seconds",
    "process_resident_memory_bytes",
    "up",
];

const PROMQL_WORDS: &[&str] = &[
    "sum",
    "rate",
    "increase",
    "histogram_quantile",
    "by",
    "without",
    "max",
    "min",
    "avg",
    "count",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "le",
];

/// The metric names in a PromQL expression: identifiers outside label matchers, `by (...)`
/// lists, ranges and strings, minus functions and keywords.
fn metric_names(expr: &str) -> Vec<String> {
    let mut cleaned = String::new();
    let mut depth_braces = 0;
    let mut in_string = false;
    let mut in_range = false;
    for c in expr.chars() {
        match c {
            '"' => in_string = !in_string,
            _ if in_string => {}
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => in_range = true,
            ']' => in_range = false,
            _ if depth_braces > 0 || in_range => {}
            _ => cleaned.push(c),
        }
        if !(c.is_ascii_alphanumeric() || c == '_' || cleaned.ends_with(' ')) {
            cleaned.push(' ');
        }
    }
    // Drop the label lists of `by (...)` / `without (...)`.
    let mut names = Vec::new();
    let tokens: Vec<&str> = cleaned
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '(' || c == ')'))
        .flat_map(|t| t.split_inclusive(['(', ')']))
        .filter(|t| !t.is_empty())
        .collect();
    let mut skipping = false;
    let mut previous = "";
    for token in tokens {
        let word = token.trim_matches(['(', ')']);
        if skipping {
            if token.contains(')') {
                skipping = false;
            }
            continue;
        }
        if (previous == "by" || previous == "without") && token.starts_with('(') {
            skipping = !token.contains(')');
            previous = "";
            continue;
        }
        if token == "(" && (previous == "by" || previous == "without") {
            skipping = true;
            continue;
        }
        previous = word;
        let is_name = word
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if is_name && !PROMQL_WORDS.contains(&word) {
            names.push(word.to_owned());
        }
    }
    names
}

fn known(name: &str, catalog: &BTreeSet<String>) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    [name, base]
        .iter()
        .any(|n| catalog.contains(*n) || OTHER_METRICS.contains(n))
}

fn dashboards() -> Vec<(String, Value)> {
    let mut boards = Vec::new();
    let dir = root().join("dashboards");
    for entry in std::fs::read_dir(&dir).expect("dashboards/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("dashboard");
            let board: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            boards.push((path.display().to_string(), board));
        }
    }
    boards
}

#[test]
fn the_promql_scanner_finds_metric_names_only() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le, service) (rate(http_server_request_duration_seconds_bucket{job!="router", x=~"a.b"}[5m])))"#
        ),
        vec!["http_server_request_duration_seconds_bucket"]
    );
    assert_eq!(
        metric_names("sum(rate(a_total[5m])) / sum by (code) (rate(b_total[5m]))"),
        vec!["a_total", "b_total"]
    );
}

#[test]
fn dashboards_parse_and_query_only_metrics_the_code_exports() {
    let catalog = catalog();
    assert!(
        catalog.contains("herald_jobs") && catalog.contains("http_server_requests_total"),
        "the catalog scan found {catalog:?}"
    );
    let boards = dashboards();
    let titles: BTreeSet<&str> = boards
        .iter()
        .filter_map(|(_, b)| b["uid"].as_str())
        .collect();
    for uid in [
        "herald-overview",
        "herald-delivery",
        "herald-recommendations",
        "herald-router",
    ] {
        assert!(titles.contains(uid), "no dashboard {uid}: {titles:?}");
    }
    let mut unknown = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queries = 0;
    for (file, board) in &boards {
        for panel in board["panels"].as_array().expect("panels") {
            assert_eq!(panel["datasource"]["uid"], "herald-prometheus", "{file}");
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("expr");
                queries += 1;
                let names = metric_names(expr);
                assert!(!names.is_empty(), "{file}: no metric in {expr}");
                for name in names {
                    seen.insert(name.clone());
                    if !known(&name, &catalog) {
                        unknown.push(format!("{file}: {name} in {expr}"));
                    }
                }
            }
        }
    }
    assert!(queries > 40, "only {queries} queries");
    for expected in [
        "herald_publish_to_inbox_seconds_bucket",
        "hive_router_plan_cache_requests_total",
        "herald_recommendation_model_products",
        "graphql_server_errors_total",
    ] {
        assert!(seen.contains(expected), "{expected} not found in {seen:?}");
    }
    assert!(!known("herald_no_such_metric_total", &catalog));
    assert!(
        unknown.is_empty(),
        "metrics no service exports:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn compose_references_hold_together_and_prometheus_scrapes_every_service() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for required in [
        "postgres",
        "mongodb",
        "rabbitmq",
        "redis",
        "users",
        "notifications",
        "notifications-worker",
        "recommendations",
        "recommendations-worker",
        "router",
        "prometheus",
        "grafana",
    ] {
        assert!(names.contains(required), "no service {required}");
    }
    let secrets = compose["secrets"].as_mapping().expect("secrets");
    for (name, service) in services {
        let name = name.as_str().expect("name");
        assert!(
            service["healthcheck"]["test"].is_sequence(),
            "{name} has no healthcheck"
        );
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, condition) in deps {
                let dep = dep.as_str().expect("dependency");
                assert!(names.contains(dep), "{name} depends on unknown {dep}");
                assert_eq!(
                    condition["condition"].as_str(),
                    Some("service_healthy"),
                    "{name} → {dep}"
                );
            }
        }
        if let Some(list) = service["secrets"].as_sequence() {
            for secret in list {
                let secret = secret.as_str().expect("secret");
                assert!(
                    secrets.contains_key(secret),
                    "{name} uses undeclared {secret}"
                );
            }
        }
        if let Some(command) = service["command"].as_sequence()
            && let Some(binary) = command.first().and_then(|b| b.as_str())
            && binary.starts_with("herald")
        {
            let test = service["healthcheck"]["test"]
                .as_sequence()
                .expect("healthcheck");
            assert_eq!(
                test.get(1).and_then(|b| b.as_str()),
                Some(binary),
                "{name}'s healthcheck uses its own binary's `healthcheck` subcommand"
            );
            assert!(root().join("Dockerfile").is_file());
        }
        if let Some(volumes) = service["volumes"].as_sequence() {
            for volume in volumes.iter().filter_map(|v| v.as_str()) {
                if let Some(local) = volume.strip_prefix("./") {
                    let path = local.split(':').next().expect("path");
                    assert!(root().join(path).exists(), "{name} mounts missing ./{path}");
                }
            }
        }
    }

    let prometheus = yaml("dashboards/prometheus.yml");
    let mut scraped = BTreeSet::new();
    for job in prometheus["scrape_configs"].as_sequence().expect("jobs") {
        for config in job["static_configs"].as_sequence().expect("static_configs") {
            for target in config["targets"].as_sequence().expect("targets") {
                let host = target
                    .as_str()
                    .and_then(|t| t.split(':').next())
                    .expect("host:port");
                scraped.insert(host.to_owned());
            }
        }
    }
    for service in [
        "users",
        "notifications",
        "notifications-worker",
        "recommendations",
        "recommendations-worker",
        "router",
    ] {
        assert!(
            scraped.contains(service),
            "Prometheus does not scrape {service}"
        );
    }
    for host in &scraped {
        assert!(
            host == "localhost" || names.contains(host.as_str()),
            "Prometheus scrapes {host}, which compose does not run"
        );
    }
}

#[test]
fn grafana_provisioning_points_at_the_dashboards_and_their_datasource() {
    let datasources = yaml("dashboards/grafana/provisioning/datasources/prometheus.yml");
    let source = &datasources["datasources"][0];
    assert_eq!(source["uid"].as_str(), Some("herald-prometheus"));
    assert_eq!(source["url"].as_str(), Some("http://prometheus:9090"));
    let providers = yaml("dashboards/grafana/provisioning/dashboards/herald.yml");
    let path = providers["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path");
    let compose = yaml("docker-compose.yml");
    let mounts = compose["services"]["grafana"]["volumes"]
        .as_sequence()
        .expect("grafana volumes");
    assert!(
        mounts
            .iter()
            .filter_map(|m| m.as_str())
            .any(|m| m.starts_with("./dashboards:") && m.contains(path)),
        "compose mounts dashboards/ where the provider reads ({path})"
    );
}
