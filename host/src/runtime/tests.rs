//! The runtime against real components: the hostile fixture and the glob plugin.

use super::types::{DecisionRequest, Effect, Rule, Verdict};
use super::*;
use crate::error::Error;

mod hostcalls;
mod loading;

/// The async calls, run to completion on a thread of the test's own.
trait Blocking {
    fn evaluate_now(
        &self,
        request: &DecisionRequest,
        rules: &[Rule],
    ) -> crate::Result<CallOutcome<Verdict>>;
    fn mask_now(
        &self,
        request_id: &str,
        text: &str,
    ) -> crate::Result<CallOutcome<Vec<types::Finding>>>;
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}

impl Blocking for Plugin {
    fn evaluate_now(
        &self,
        request: &DecisionRequest,
        rules: &[Rule],
    ) -> crate::Result<CallOutcome<Verdict>> {
        let caller = Caller::new(
            &request.project,
            &request.agent,
            &request.session,
            &request.request_id,
        );
        block_on(self.evaluate(&caller, request, rules))
    }
    fn mask_now(
        &self,
        request_id: &str,
        text: &str,
    ) -> crate::Result<CallOutcome<Vec<types::Finding>>> {
        block_on(self.mask(&Caller::new("p", "agent", "s", request_id), text))
    }
}

const HOSTILE: &str = env!("PALISADE_FIXTURE_HOSTILE");

fn hostile_bytes() -> Vec<u8> {
    std::fs::read(HOSTILE).unwrap_or_else(|e| panic!("cannot read fixture {HOSTILE}: {e}"))
}

fn glob_bytes() -> &'static [u8] {
    crate::builtin::plugin("glob").unwrap_or_default()
}

fn runtime() -> Runtime {
    let settings = EngineSettings {
        pooling: true,
        max_instances: 64,
        ..EngineSettings::default()
    };
    Runtime::new(&settings, None).unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn request(action: &str, resource: &str) -> DecisionRequest {
    DecisionRequest {
        request_id: "req-1".into(),
        agent: "agent".into(),
        session: "s".into(),
        project: "p".into(),
        service: "files".into(),
        action: action.into(),
        resource: resource.into(),
        attributes: vec![],
    }
}

fn rule(effect: Effect, actions: &[&str], resources: &[&str]) -> Rule {
    Rule {
        id: "test.yaml:1".into(),
        effect,
        actions: actions.iter().map(|s| s.to_string()).collect(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        qualifiers: vec![],
        approval: None,
    }
}

fn options(isolation: Isolation, limits: Limits) -> PluginOptions {
    PluginOptions {
        limits,
        isolation,
        ..PluginOptions::default()
    }
}

fn load(rt: &Runtime, name: &str, bytes: &[u8], opts: PluginOptions) -> Plugin {
    rt.load(name, bytes, opts)
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// The glob plugin still decides correctly on this runtime.
fn assert_glob_works(glob: &Plugin) {
    let rules = [
        rule(Effect::Allow, &["read"], &["files/*"]),
        rule(Effect::Deny, &["read"], &["files/secret"]),
    ];
    let allow = glob
        .evaluate_now(&request("read", "files/a"), &rules)
        .map(|o| o.value);
    assert!(matches!(allow, Ok(Verdict::Allow(_))), "{allow:?}");
    let deny = glob
        .evaluate_now(&request("read", "files/secret"), &rules)
        .map(|o| o.value);
    assert!(matches!(deny, Ok(Verdict::Deny(_))), "{deny:?}");
}

fn hostile_case(isolation: Isolation, action: &str, limits: Limits, expect: fn(&Error) -> bool) {
    let rt = runtime();
    let hostile = load(&rt, "hostile", &hostile_bytes(), options(isolation, limits));
    let glob = load(
        &rt,
        "glob",
        glob_bytes(),
        options(isolation, Limits::default()),
    );
    // Warm an instance first, so the pooled case shows a used instance is discarded.
    assert!(hostile.evaluate_now(&request("ok", "x"), &[]).is_ok());
    let err = hostile
        .evaluate_now(&request(action, "x"), &[])
        .map(|o| o.value)
        .expect_err("hostile call must fail");
    assert!(
        expect(&err),
        "{action} ({isolation:?}): unexpected error {err:?}"
    );
    assert!(err.is_plugin_failure());
    // The same plugin and runtime keep serving.
    let ok = hostile
        .evaluate_now(&request("ok", "x"), &[])
        .map(|o| o.value);
    assert!(matches!(ok, Ok(Verdict::Allow(_))), "{ok:?}");
    assert_glob_works(&glob);
}

fn each_isolation(f: impl Fn(Isolation)) {
    for isolation in [Isolation::Pooled, Isolation::Fresh] {
        f(isolation);
    }
}

#[test]
fn endless_loop_runs_out_of_fuel() {
    each_isolation(|i| {
        let limits = Limits {
            fuel: 5_000_000,
            deadline_ms: 10_000,
            ..Limits::default()
        };
        hostile_case(i, "loop", limits, |e| {
            matches!(
                e,
                Error::OutOfFuel {
                    fuel: 5_000_000,
                    ..
                }
            )
        });
    });
}

#[test]
fn endless_loop_hits_the_deadline() {
    each_isolation(|i| {
        let limits = Limits {
            fuel: u64::MAX / 2,
            deadline_ms: 30,
            ..Limits::default()
        };
        hostile_case(i, "loop", limits, |e| {
            matches!(
                e,
                Error::DeadlineExceeded {
                    deadline_ms: 30,
                    ..
                }
            )
        });
    });
}

/// A guest asleep in a WASI clock call sees no epoch tick; the host's
/// timeout ends the call at its deadline all the same.
#[test]
fn a_sleep_in_a_host_call_hits_the_deadline() {
    each_isolation(|i| {
        let limits = Limits {
            deadline_ms: 50,
            ..Limits::default()
        };
        hostile_case(i, "sleep", limits, |e| {
            matches!(
                e,
                Error::DeadlineExceeded {
                    deadline_ms: 50,
                    ..
                }
            )
        });
    });
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    each_isolation(|i| {
        let limits = Limits {
            memory_mib: 16,
            ..Limits::default()
        };
        hostile_case(i, "alloc", limits, |e| {
            matches!(e, Error::MemoryLimit { limit_mib: 16, .. })
        });
    });
}

#[test]
fn deep_recursion_overflows_the_stack() {
    each_isolation(|i| {
        hostile_case(i, "recurse", Limits::default(), |e| {
            matches!(e, Error::StackOverflow { .. })
        });
    });
}

#[test]
fn panic_is_a_trap() {
    each_isolation(|i| {
        hostile_case(
            i,
            "panic",
            Limits::default(),
            |e| matches!(e, Error::Trap { message, .. } if message.contains("panicked")),
        );
    });
}

#[test]
fn huge_output_is_refused() {
    each_isolation(|i| {
        hostile_case(
            i,
            "huge",
            // A far deadline: the answer's size is what must fail it.
            Limits {
                deadline_ms: 10_000,
                ..Limits::default()
            },
            |e| matches!(e, Error::OversizedOutput { size, limit: 65536, .. } if *size == 8 << 20),
        );
    });
}

#[test]
fn malformed_mask_spans_are_refused() {
    each_isolation(|i| {
        let rt = runtime();
        let hostile = load(
            &rt,
            "hostile",
            &hostile_bytes(),
            options(i, Limits::default()),
        );
        let err = hostile
            .mask_now("r", "spans")
            .map(|o| o.value)
            .expect_err("must fail");
        assert!(matches!(err, Error::MalformedOutput { .. }), "{err:?}");
        let spans = |text: &str| {
            hostile.mask_now("r", text).map(|o| {
                o.value
                    .into_iter()
                    .map(|f| (f.kind, f.start, f.end))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(spans("plain text").ok(), Some(vec![]));
        assert_eq!(
            spans("secret hunter2").ok(),
            Some(vec![("secret".to_owned(), 7, 14)])
        );
    });
}

#[test]
fn a_flood_of_findings_is_refused_as_oversized() {
    each_isolation(|i| {
        let rt = runtime();
        let hostile = load(
            &rt,
            "hostile",
            &hostile_bytes(),
            options(
                i,
                Limits {
                    deadline_ms: 10_000,
                    ..Limits::default()
                },
            ),
        );
        let err = hostile
            .mask_now("r", "flood")
            .map(|o| o.value.len())
            .expect_err("must fail");
        assert!(matches!(err, Error::OversizedOutput { .. }), "{err:?}");
        assert!(
            hostile.mask_now("r", "plain").is_ok(),
            "the plugin still serves"
        );
    });
}

#[test]
fn masking_gets_fuel_in_proportion_to_the_text() {
    let rt = runtime();
    // Fuel is what this is about: the deadline is far off.
    let limits = Limits {
        fuel: 1_000_000,
        deadline_ms: 60_000,
        ..Limits::default()
    };
    let pii = load(
        &rt,
        "pii",
        crate::builtin::plugin("pii").unwrap_or_default(),
        options(Isolation::Pooled, limits),
    );
    // Far more than a million instructions' worth of text: only the
    // per-byte allowance lets it through.
    let text = "Call me at +1 415 555 0100 about invoice 2026-118. ".repeat(20_000);
    let out = pii.mask_now("r", &text).expect("allowance covers the text");
    assert!(out.fuel_used > limits.fuel, "used {}", out.fuel_used);
}

#[test]
fn pooled_reuses_instances_and_fresh_does_not() {
    let rt = runtime();
    let pooled = load(
        &rt,
        "p",
        &hostile_bytes(),
        options(Isolation::Pooled, Limits::default()),
    );
    let fresh = load(
        &rt,
        "f",
        &hostile_bytes(),
        options(Isolation::Fresh, Limits::default()),
    );
    let count = |p: &Plugin| match p.evaluate_now(&request("count", "x"), &[]).map(|o| o.value) {
        Ok(Verdict::Allow(n)) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (count(&pooled), count(&pooled)),
        ("1".to_owned(), "2".to_owned())
    );
    assert_eq!(pooled.idle_instances(), 1);
    assert_eq!(
        (count(&fresh), count(&fresh)),
        ("1".to_owned(), "1".to_owned())
    );
    assert_eq!(fresh.idle_instances(), 0);
    // A failed call discards the instance: the next call starts from scratch.
    assert!(pooled.evaluate_now(&request("panic", "x"), &[]).is_err());
    assert_eq!(pooled.idle_instances(), 0);
    assert_eq!(count(&pooled), "1");
}

#[test]
fn exports_are_detected() {
    let rt = runtime();
    let hostile = load(&rt, "hostile", &hostile_bytes(), PluginOptions::default());
    assert_eq!(
        hostile.exports(),
        Exports {
            policy: true,
            masking: true
        }
    );
    let glob = load(&rt, "glob", glob_bytes(), PluginOptions::default());
    assert_eq!(
        glob.exports(),
        Exports {
            policy: true,
            masking: false
        }
    );
    let err = glob
        .mask_now("r", "text")
        .map(|_| ())
        .expect_err("glob does not mask");
    assert!(
        matches!(
            err,
            Error::MissingExport {
                interface: "masking",
                ..
            }
        ),
        "{err:?}"
    );
}
