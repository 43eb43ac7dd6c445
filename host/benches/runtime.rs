//! Per-call cost of a plugin: pooled vs fresh isolation, and a chain of three.
//! Every call runs on the runtime's plugin executor: a single call from the
//! bench's thread pays one hand-off there and back, a chain one for all its
//! plugins (as `chain::decide` does).
//!
//! `cargo bench -p palisade --bench runtime`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::runtime::types::{DecisionRequest, Effect, Rule, Verdict};
use palisade::runtime::{Caller, EngineSettings, Isolation, Plugin, PluginOptions, Runtime};
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

fn caller(req: &DecisionRequest) -> Caller {
    Caller::new(&req.project, &req.agent, &req.session, &req.request_id)
}

/// Deny beats approval beats allow; nothing → deny.
async fn chain(plugins: &[Plugin], req: &DecisionRequest, rules: &[Rule]) -> &'static str {
    let mut seen = (false, false);
    let caller = caller(req);
    for p in plugins {
        match p.evaluate(&caller, req, rules).await.map(|o| o.value) {
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
    let who = caller(&req);
    let mut group = c.benchmark_group("plugin_call");
    group.measurement_time(Duration::from_secs(4));
    for isolation in [Isolation::Pooled, Isolation::Fresh] {
        let plugin = load(&rt, "glob", isolation);
        assert!(matches!(
            exec.block_on(plugin.evaluate(&who, &req, &rules))
                .unwrap()
                .value,
            Verdict::Allow(_)
        ));
        group.bench_function(format!("{isolation:?}").to_lowercase(), |b| {
            b.iter(|| {
                black_box(
                    exec.block_on(plugin.evaluate(&who, black_box(&req), black_box(&rules)))
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
                exec.block_on(plugin.evaluate(&who, black_box(&req), &[]))
                    .unwrap(),
            )
        })
    });
    // A plugin that is not first-party reuses an instance only within one
    // agent's session: a call from a new session pays for an instance.
    let mut session = 0u64;
    group.bench_function("pooled_new_session", |b| {
        b.iter(|| {
            session += 1;
            let who = Caller::new("acme", "code-reviewer", format!("s-{session}"), "bench");
            black_box(
                exec.block_on(plugin.evaluate(&who, black_box(&req), &rules))
                    .unwrap(),
            )
        })
    });
    for isolation in [Isolation::Pooled, Isolation::Fresh] {
        let plugins: Vec<Plugin> = ["a", "b", "c"]
            .iter()
            .map(|n| load(&rt, n, isolation))
            .collect();
        // One hand-off for the chain, with the request and rules copied to
        // the executor, as `chain::decide` does.
        let run = || {
            let (plugins, req, rules) = (plugins.clone(), req.clone(), rules.clone());
            exec.block_on(
                rt.executor()
                    .run(async move { chain(&plugins, &req, &rules).await }),
            )
            .unwrap()
        };
        assert_eq!(run(), "allow");
        group.bench_function(format!("chain3_{isolation:?}").to_lowercase(), |b| {
            b.iter(|| black_box(run()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
