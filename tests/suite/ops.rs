//! The operations files: Kubernetes manifests (schema-checked with kubernetes-validate, which
//! `ops/test.sh` installs, plus what no schema says), the Grafana dashboard and the alert rules,
//! which must only name metrics the workers export.

use std::process::Command;

use serde_yaml_ng::Value;

use crate::project_root;

fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(project_root().join(path)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect()
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[*k],
    })
}

/// The metric names the workers export (from the registry's help table).
fn exported_metrics() -> Vec<String> {
    let source = std::fs::read_to_string(project_root().join("shared/src/metrics.rs")).unwrap();
    let re = regex_lite(&source);
    assert!(re.len() >= 10, "{re:?}");
    re
}

fn regex_lite(source: &str) -> Vec<String> {
    source.split('"').filter(|t| t.starts_with("copydesk_") && !t.contains(' ')).map(str::to_owned).collect()
}

#[test]
fn kubernetes_manifests_pass_the_schema_check() {
    let files = ["config.yaml", "fetch.yaml", "clean.yaml", "dedup.yaml", "keda-auth.yaml"];
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(files.iter().map(|f| format!("ops/k8s/{f}")))
        .current_dir(project_root())
        .output()
        .expect("kubernetes-validate is installed (ops/test.sh installs it from PyPI)");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}");
    assert_eq!(report.matches("passed for resource").count(), 8, "{report}");
}

#[test]
fn every_worker_has_probes_a_long_enough_grace_period_and_a_scaler() {
    let config = &documents("ops/k8s/config.yaml")[0];
    let grace: u64 = s(config, &["data", "COPYDESK_GRACE_SECONDS"]).as_str().unwrap().parse().unwrap();
    for stage in ["fetch", "clean", "dedup"] {
        let docs = documents(&format!("ops/k8s/{stage}.yaml"));
        let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        let name = s(deployment, &["metadata", "name"]).as_str().unwrap();
        assert_eq!(name, format!("copydesk-{stage}"));
        let pod = s(deployment, &["spec", "template", "spec"]);
        assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > grace, "{stage}: the pod outlives the drain");
        let container = s(pod, &["containers", "0"]);
        assert_eq!(s(container, &["command", "0"]).as_str(), Some(name));
        assert_eq!(s(container, &["livenessProbe", "httpGet", "path"]).as_str(), Some("/healthz"));
        assert_eq!(s(container, &["readinessProbe", "httpGet", "path"]).as_str(), Some("/readyz"));
        assert!(s(container, &["resources", "limits", "memory"]).is_string());
        let scaler = docs.iter().find(|d| d["kind"] == "ScaledObject").expect("a KEDA ScaledObject");
        assert_eq!(s(scaler, &["spec", "scaleTargetRef", "name"]).as_str(), Some(name));
        let trigger = s(scaler, &["spec", "triggers", "0"]);
        assert_eq!(trigger["type"], "rabbitmq");
        assert_eq!(s(trigger, &["metadata", "queueName"]).as_str(), Some(format!("copydesk.{stage}").as_str()));
        assert!(docs.iter().any(|d| d["kind"] == "PodDisruptionBudget"));
    }
}

#[test]
fn dashboard_and_alerts_name_only_exported_metrics() {
    let exported = exported_metrics();
    let dashboard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project_root().join("ops/grafana/copydesk.json")).unwrap()).unwrap();
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_owned()))
        .collect();
    for group in documents("ops/prometheus/alerts.yml")[0]["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            exprs.push(rule["expr"].as_str().unwrap().to_owned());
            assert!(rule["annotations"]["summary"].is_string());
        }
    }
    let mut named = 0;
    for expr in &exprs {
        for word in
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("copydesk_"))
        {
            let base = word.trim_end_matches("_bucket");
            assert!(exported.iter().any(|m| m == base), "{word} in `{expr}` is not a metric the workers export");
            named += 1;
        }
    }
    assert!(named >= 10);
    for needed in [
        "copydesk_messages_total",
        "copydesk_stage_duration_seconds",
        "copydesk_dead_letters_total",
        "copydesk_retries_total",
        "copydesk_duplicates_total",
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_consumers",
    ] {
        assert!(exprs.iter().any(|e| e.contains(needed)), "the dashboard shows {needed}");
    }
}
