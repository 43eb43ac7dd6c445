//! Per-call cost of a plugin: pooled vs fresh isolation, and a chain of three.
//!
//! `cargo bench -p palisade --bench runtime`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::runtime::types::{DecisionRequest, Effect, Rule, Verdict};
use palisade::runtime::{EngineSettings, Isolation, Plugin, PluginOptions, Runtime};
use std::hint::black_box;
use std::time::Duration;

fn rule(effect: Effect, actions: &[&str], resources: &[&str]) -> Rule {
    Rule {
        id: "bench.yaml:1".into(),
        effect,
        actions: actions.iter().map(|s| s.to_string()).collect(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        qualifiers: vec![],
        approval: None,
    }
}

/// A realistic rule set for one agent and service: eight rules.
fn rules() -> Vec<Rule> {
    vec![
        rule(Effect::Allow, &["read", "list"], &["repos/acme/*"]),
        rule(
            Effect::Allow,
            &["clone", "fetch", "pull"],
            &["repos/acme/*"],
        ),
        rule(Effect::RequireApproval, &["push"], &["repos/acme/*"]),
        rule(Effect::RequireApproval, &["delete*"], &["*"]),
        rule(Effect::Deny, &["*"], &["repos/acme/secrets*"]),
        rule(Effect::Deny, &["admin:*"], &["*"]),
        rule(Effect::Allow, &["comment"], &["repos/acme/*/pulls/*"]),
        rule(Effect::Deny, &["force-push"], &["*"]),
    ]
}

fn request() -> DecisionRequest {
    DecisionRequest {
        request_id: "bench".into(),
        agent: "code-reviewer".into(),
        session: "s-1".into(),
        project: "acme".into(),
        service: "git".into(),
        action: "pull".into(),
        resource: "repos/acme/api".into(),
        attributes: vec![("branch".into(), "main".into())],
    }
}

fn load(rt: &Runtime, name: &str, isolation: Isolation) -> Plugin {
    let bytes = palisade::builtin::plugin("glob").unwrap();
    let options = PluginOptions {
        isolation,
        ..PluginOptions::default()
    };
    rt.load(name, bytes, options).unwrap()
}

/// Deny beats approval beats allow; nothing → deny.
async fn chain(plugins: &[Plugin], req: &DecisionRequest, rules: &[Rule]) -> &'static str {
    let mut seen = (false, false);
    for p in plugins {
        match p.evaluate(req, rules).await.map(|o| o.value) {
            Ok(Verdict::Deny(_)) | Err(_) => return "deny",
            Ok(Verdict::Approve(_)) => seen.0 = true,
            Ok(Verdict::Allow(_)) => seen.1 = true,
            Ok(Verdict::Abstain) => {}
        }
    }
    match seen {
        (true, _) => "approval_required",
        (false, true) => "allow",
        _ => "deny",
    }
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new(&EngineSettings::default(), None).unwrap();
    // Calls are async; the bench drives them on one thread, as the server's
    // workers do.
    let exec = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let req = request();
    let rules = rules();
    let mut group = c.benchmark_group("plugin_call");
    group.measurement_time(Duration::from_secs(4));
    for isolation in [Isolation::Pooled, Isolation::Fresh] {
        let plugin = load(&rt, "glob", isolation);
        assert!(matches!(
            exec.block_on(plugin.evaluate(&req, &rules)).unwrap().value,
            Verdict::Allow(_)
        ));
        group.bench_function(format!("{isolation:?}").to_lowercase(), |b| {
            b.iter(|| {
                black_box(
                    exec.block_on(plugin.evaluate(black_box(&req), black_box(&rules)))
                        .unwrap(),
                )
            })
        });
    }
    // Fixed overhead: the same call with no rules (the plugin abstains).
    let plugin = load(&rt, "glob", Isolation::Pooled);
    group.bench_function("pooled_no_rules", |b| {
        b.iter(|| {
            black_box(
                exec.block_on(plugin.evaluate(black_box(&req), &[]))
                    .unwrap(),
            )
        })
    });
    for isolation in [Isolation::Pooled, Isolation::Fresh] {
        let plugins: Vec<Plugin> = ["a", "b", "c"]
            .iter()
            .map(|n| load(&rt, n, isolation))
            .collect();
        assert_eq!(exec.block_on(chain(&plugins, &req, &rules)), "allow");
        group.bench_function(format!("chain3_{isolation:?}").to_lowercase(), |b| {
            b.iter(|| black_box(exec.block_on(chain(&plugins, black_box(&req), black_box(&rules)))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
