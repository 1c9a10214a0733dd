//! The deployment files are valid: no docker engine runs here, so docker-compose's own
//! validator checks the compose file, and the Dockerfile is checked against the workspace.

use std::process::Command;

use crate::project_root;

/// `docker-compose config` on the project's compose file: the file as docker-compose reads it.
fn compose_config() -> String {
    let out = Command::new("docker-compose")
        .args(["-f", "docker-compose.yml", "config"])
        .current_dir(project_root())
        .output()
        .expect("docker-compose is installed (ops/test.sh installs Debian's package)");
    assert!(out.status.success(), "docker-compose config: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn compose_services_build_from_the_project_dockerfile() {
    let config = compose_config();
    assert!(config.contains("dockerfile: Dockerfile"), "{config}");
    for service in ["rabbitmq:", "redis:", "otel-collector:", "jaeger:", "prometheus:", "grafana:", "copydesk:"] {
        assert!(config.contains(service), "service {service} missing:\n{config}");
    }
}

#[test]
fn every_worker_in_compose_runs_a_binary_the_image_holds() {
    let config = compose_config();
    for binary in ["copydesk-fetch", "copydesk-clean", "copydesk-dedup"] {
        assert!(config.contains(&format!("- {binary}")), "a service runs {binary}:\n{config}");
    }
    assert!(config.contains("appendonly"), "Redis keeps the dedup store on disk (AOF)");
}

#[test]
fn dockerfile_builds_the_binaries_the_readme_runs() {
    let dockerfile = std::fs::read_to_string(project_root().join("Dockerfile")).unwrap();
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    assert!(readme.contains("cargo run --release -p copydesk --"), "README runs the copydesk package");
    assert!(
        dockerfile.contains("cargo build --release --locked -p copydesk"),
        "Dockerfile builds the copydesk package"
    );
    assert!(dockerfile.contains("USER copydesk"), "the runtime image runs as a non-root user");
    // Every workspace member (and the lock file) goes into the build stage.
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        .flat_map(|l| l.split_whitespace().skip(1))
        .collect();
    for path in ["Cargo.toml", "Cargo.lock", "shared", "workers", "tests"] {
        assert!(copied.contains(&path), "Dockerfile copies {path}: {copied:?}");
    }
}
