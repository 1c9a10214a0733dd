//! Finding and reading the documents `copydesk process` was given: files, folders (recursively)
//! and JSON jobs on standard input.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use shared::message::{Job, Stage};

/// Extensions `process` picks up inside folders (each also with `.gz`).
const DOCUMENT_EXTENSIONS: &[&str] = &["html", "htm", "md", "txt"];

/// One document to process.
pub enum Source {
    File(PathBuf),
    /// A job read from standard input: its line number and the decoded job (or why it is bad).
    Job(usize, Box<Result<Job, String>>),
}

impl Source {
    /// What the summary and `job_id` call this document.
    pub fn label(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Job(line, job) => match job.as_ref() {
                Ok(Job { id: Some(id), .. }) => format!("stdin:{line} ({id})"),
                _ => format!("stdin:{line}"),
            },
        }
    }
}

/// Reads a file, or standard input for `-`.
pub fn read_path(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf)?;
        return Ok(buf);
    }
    std::fs::read(path)
}

fn is_document(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    DOCUMENT_EXTENSIONS.iter().any(|ext| name.rsplit_once('.').is_some_and(|(_, e)| e == *ext))
}

/// The documents named by `paths`, folders walked recursively in name order. A path that does not
/// exist is passed on as a file, to fail with its reason like any other document.
pub fn collect(paths: &[PathBuf]) -> Vec<Source> {
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            for (i, line) in std::io::stdin().lock().lines().enumerate() {
                let item = match line {
                    Ok(l) if l.trim().is_empty() => continue,
                    Ok(l) => Job::parse(l.as_bytes(), Stage::Clean).map_err(|e| e.to_string()),
                    Err(e) => Err(format!("reading standard input: {e}")),
                };
                out.push(Source::Job(i + 1, Box::new(item)));
            }
        } else if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files);
            files.sort();
            out.extend(files.into_iter().map(Source::File));
        } else {
            out.push(Source::File(path.clone()));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out),
            Ok(t) if t.is_file() && is_document(&path) => out.push(path),
            _ => {}
        }
    }
}
