//! The quality floors of issue 2 hold, measured with the benchmark's own metric, and our
//! evaluation agrees with the reference scorer (`../shared/tools/extract-eval/eval.py`) to the
//! last digit on the same predictions.

use std::process::Command;

use copydesk::eval::evaluate;

use crate::{corpus, project_root};

#[test]
fn english_benchmark_f1_is_at_least_0_970() {
    let report = evaluate(&corpus("scrapinghub-aeb"), "auto").unwrap();
    assert_eq!(report.pages.len(), 181);
    let m = &report.metrics;
    assert!(m.f1 >= 0.970, "AEB F1 {:.4} (P {:.4}, R {:.4})", m.f1, m.precision, m.recall);
}

#[test]
fn chinese_set_f1_is_at_least_0_970() {
    let report = evaluate(&corpus("cwce-zh-dev"), "auto").unwrap();
    assert_eq!(report.pages.len(), 30);
    let m = &report.metrics;
    assert!(m.f1 >= 0.970, "CWCE F1 {:.4} (P {:.4}, R {:.4})", m.f1, m.precision, m.recall);
}

#[test]
fn our_metric_agrees_with_the_reference_scorer() {
    for name in ["scrapinghub-aeb", "cwce-zh-dev"] {
        let report = evaluate(&corpus(name), "auto").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let predictions = dir.path().join("predictions.json");
        let summary = dir.path().join("summary.json");
        let map: serde_json::Map<String, serde_json::Value> = report
            .predictions
            .iter()
            .map(|(id, text)| (id.clone(), serde_json::json!({ "articleBody": text })))
            .collect();
        std::fs::write(&predictions, serde_json::to_vec(&map).unwrap()).unwrap();
        let out = Command::new("python3")
            .arg(project_root().join("../shared/tools/extract-eval/eval.py"))
            .args(["--corpus", corpus(name).to_str().unwrap(), "--n-bootstrap", "2"])
            .args(["--predictions", predictions.to_str().unwrap(), "--out-json", summary.to_str().unwrap()])
            .output()
            .expect("python3 runs the reference scorer");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let reference: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
        let q = &reference["quality"];
        for (ours, key) in
            [(report.metrics.f1, "f1"), (report.metrics.precision, "precision"), (report.metrics.recall, "recall")]
        {
            let theirs = q[key].as_f64().unwrap();
            assert!((ours - theirs).abs() < 1e-9, "{name} {key}: ours {ours}, reference {theirs}");
        }
    }
}
