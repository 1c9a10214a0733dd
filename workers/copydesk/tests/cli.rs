//! The `copydesk` binary as people and scripts run it: the README's main command, the summary,
//! the state kept between runs, failures that never stop a batch, jobs on standard input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copydesk(args: &[&str], cwd: &Path, stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_copydesk"))
        .args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn readme_command_processes_the_examples_then_remembers_them() {
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let first = copydesk(&["process", "examples/", "--state", state_arg], &project_root(), None);
    assert!(first.status.success(), "{}", stderr(&first));
    let got = events(&first);
    // The syndicated copy of the council story comes first by name; the original is its near-copy.
    assert_eq!(got.len(), 3, "{}", stderr(&first));
    assert!(stderr(&first).contains("read 4, new 3, duplicate 1, failed 0"), "{}", stderr(&first));
    for e in &got {
        assert_eq!(e["schema"], "copydesk.article.v1");
        assert!(e["duplicate_of"].is_null());
        assert!(e["job_id"].as_str().unwrap().starts_with("examples/"));
        assert!(!e["text"].as_str().unwrap().is_empty());
    }

    let second = copydesk(&["process", "examples/", "--state", state_arg], &project_root(), None);
    assert!(second.status.success());
    assert!(events(&second).is_empty());
    assert!(stderr(&second).contains("read 4, new 0, duplicate 4, failed 0"), "{}", stderr(&second));

    let third = copydesk(&["process", "examples/", "--state", state_arg, "--with-duplicates"], &project_root(), None);
    let dups = events(&third);
    assert_eq!(dups.len(), 4);
    let syndicated = &got[0];
    assert_eq!(syndicated["job_id"], "examples/council-budget-syndicated.html");
    for d in &dups {
        let original = got.iter().find(|e| e["job_id"] == d["job_id"]).unwrap_or(syndicated);
        assert_eq!(d["duplicate_of"], original["id"], "{}", d["job_id"]);
    }
}

#[test]
fn a_failing_document_never_stops_the_batch_and_its_reason_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::copy(project_root().join("examples/council-budget.html"), docs.join("a-good.html")).unwrap();
    std::fs::write(docs.join("b-empty.html"), b"").unwrap();
    std::fs::write(docs.join("c-bad-yaml.md"), b"---\ntitle: [unclosed\n---\nbody\n").unwrap();
    std::fs::write(docs.join("d-junk.html.gz"), b"\x1f\x8b\x08\x00 not really gzip").unwrap();
    std::fs::write(docs.join("e-ignored.pdf"), b"%PDF").unwrap();
    let out_file = dir.path().join("out.jsonl");
    let out = copydesk(
        &[
            "process",
            docs.to_str().unwrap(),
            "--state",
            dir.path().join("state").to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
        ],
        dir.path(),
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("read 4, new 1, duplicate 0, failed 3"), "{err}");
    assert!(err.contains("b-empty.html: the document is empty"), "{err}");
    assert!(err.contains("c-bad-yaml.md: the front matter is not valid YAML"), "{err}");
    assert!(err.contains("d-junk.html.gz: the document is not valid gzip"), "{err}");
    assert_eq!(std::fs::read_to_string(out_file).unwrap().lines().count(), 1);
    assert!(out.stdout.is_empty());
}

#[test]
fn jobs_on_standard_input_are_cleaned_and_bad_ones_reported() {
    let dir = tempfile::tempdir().unwrap();
    let page = std::fs::read_to_string(project_root().join("examples/council-budget.html")).unwrap();
    let good = serde_json::json!({"id": "job-1", "url": "https://news.example.com/x", "content": page, "content_type": "text/html",
        "metadata": {"categories": ["City"], "language": "en"}, "unknown": true});
    let input = format!("{good}\n{{not json\n{{\"url\": \"https://x.test/\"}}\n\n{{\"content\": 5}}\n");
    let out = copydesk(&["process", "-", "--state", dir.path().to_str().unwrap()], dir.path(), Some(input.as_bytes()));
    assert!(out.status.success(), "{}", stderr(&out));
    let got = events(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["job_id"], "job-1");
    assert_eq!(got[0]["url"], "https://news.example.com/x");
    let err = stderr(&out);
    assert!(err.contains("read 4, new 1, duplicate 0, failed 3"), "{err}");
    assert!(err.contains("stdin:2: job is not valid JSON"), "{err}");
    assert!(err.contains("stdin:3: job lacks the required field `content`"), "{err}");
    assert!(err.contains("stdin:5: field `content` must be a string, not a number"), "{err}");
}

#[test]
fn clean_prints_one_event_and_refuses_a_document_without_article() {
    let root = project_root();
    let out = copydesk(
        &["clean", "../shared/corpus/seed/000_2fd2c59e8df45501.txt", "--url", "https://finance.sina.com.cn/a.shtml"],
        &root,
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["site"], "finance.sina.com.cn");
    assert_eq!(event["editor"], "吴剑");

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("nothing.html");
    std::fs::write(&empty, "<html><body><nav><a href=/>Home</a></nav></body></html>").unwrap();
    let out = copydesk(&["clean", empty.to_str().unwrap()], dir.path(), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no article text found"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn gzip_documents_are_read_transparently() {
    let dir = tempfile::tempdir().unwrap();
    let out = copydesk(
        &["clean", &project_root().join("../shared/corpus/scrapinghub-aeb/html/042bb7b5fedab6eac7db576522b89b93904c237d344bcbe14a6a5ab7f7335856.html.gz").to_string_lossy()],
        dir.path(),
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(event["text"].as_str().unwrap().contains("Gaming used to be so simple."));
}

#[test]
fn output_does_not_depend_on_the_number_of_threads() {
    let corpus = project_root().join("../shared/corpus/cwce-zh-dev/html");
    let run = |jobs: &str| {
        let state = tempfile::tempdir().unwrap();
        let out = copydesk(
            &["process", corpus.to_str().unwrap(), "-j", jobs, "--state", state.path().to_str().unwrap()],
            state.path(),
            None,
        );
        assert!(out.status.success());
        events(&out).iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let one = run("1");
    assert_eq!(one.len(), 30);
    assert_eq!(one, run("2"));
}
