//! Loading the seeds' policies as written, and refusing bad ones clearly.

use super::*;
use crate::runtime::types::Effect;

const INVOICE: &str = include_str!("../../../tests/policies/invoice-processor.yaml");
const CI_RUNNER: &str = include_str!("../../../tests/policies/ci-runner.yaml");
const CODE_REVIEWER: &str = include_str!("../../../tests/policies/code-reviewer.yaml");

/// Compiles `sources` as one project: its policy, with every warning.
fn compile(sources: &[Source]) -> Result<Policy> {
    let set = super::compile(&Root::project(sources.to_vec()))?;
    let mut policy = set.projects.into_values().next().expect("one project");
    policy.warnings = set.server.warnings;
    Ok(policy)
}

fn src(name: &str, text: &str) -> Source {
    Source {
        name: name.into(),
        text: text.into(),
    }
}

fn err(name: &str, text: &str) -> String {
    compile(&[src(name, text)])
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn seed_001_loads_verbatim_and_keeps_every_repeated_allow() {
    let p = compile(&[src("invoice.yaml", INVOICE)]).unwrap();
    assert_eq!(p.project, "invoice-processor");
    let agent = &p.agents["claude-invoice-01"];
    let count = |svc: &str, effect: Effect| {
        agent.rules[svc]
            .iter()
            .filter(|r| r.effect == effect)
            .count()
    };
    // Three `allow:` blocks: git (2 rules), aws (2), stripe (1). None dropped.
    assert_eq!(count("git", Effect::Allow), 2);
    assert_eq!(count("aws", Effect::Allow), 2);
    assert_eq!(count("stripe", Effect::Allow), 1);
    assert_eq!(count("git", Effect::RequireApproval), 1);
    assert_eq!(count("aws", Effect::Deny), 1);
    assert_eq!(count("stripe", Effect::Deny), 1);
    // The repeats are reported, with lines.
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    assert!(
        p.warnings[0].at.starts_with("invoice.yaml:15:"),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings[0]
            .message
            .contains("`allow` is repeated (first at line 5)")
    );
    // Rule ids point at their lines; branches became a qualifier.
    let push = &agent.rules["git"][1];
    assert_eq!(push.id, "invoice.yaml:9");
    assert_eq!(push.qualifiers[0].name, "branch");
    assert_eq!(push.qualifiers[0].values, ["feature/*", "fix/*"]);
    // Stripe's rule names no resources: every resource.
    assert_eq!(agent.rules["stripe"][0].resources, ["*"]);
}

#[test]
fn seed_000_compact_rules_and_blocks_load() {
    let p = compile(&[
        src("pol/ci-runner.yaml", CI_RUNNER),
        src("pol/code-reviewer.yaml", CODE_REVIEWER),
    ])
    .unwrap();
    let ci = &p.agents["ci-runner"];
    assert_eq!(ci.rules["git"].len(), 2);
    let prod = &ci.rules["aws"][1];
    assert_eq!(prod.effect, Effect::RequireApproval);
    assert_eq!(prod.actions, ["ecs:UpdateService"]);
    assert_eq!(prod.resources, ["arn:aws:ecs:*:*:service/prod-*"]);
    let approval = prod.approval.as_ref().unwrap();
    assert_eq!(approval.channel.as_deref(), Some("slack:#deploy-approvals"));
    assert_eq!(approval.timeout_seconds, Some(3600));
    let budget = ci.budget.as_ref().unwrap();
    assert_eq!(budget.max_tokens_per_session, Some(100_000));
    assert_eq!(budget.alert_at, Some(units::Percent(80)));
    assert_eq!(ci.rate_limits.as_ref().unwrap().max_requests_per_minute, 30);
    let file = &p.files[0].1;
    assert_eq!(
        file.project_budget.as_ref().unwrap().monthly_limit,
        Some(units::Money(50_000))
    );
    assert_eq!(
        file.audit
            .as_ref()
            .unwrap()
            .export
            .as_ref()
            .unwrap()
            .destination,
        "s3://your-audit-bucket/"
    );
    assert_eq!(p.agents["code-reviewer"].rules["git"].len(), 2);
    assert_eq!(p.version.len(), 16);
    // Budgets and rate limits are enforced: nothing warns otherwise.
    assert!(
        !p.warnings
            .iter()
            .any(|w| w.message.contains("not enforced")),
        "{:?}",
        p.warnings
    );
    let plan = p.budgets.project.as_ref().unwrap();
    assert_eq!(plan.alert_thresholds.len(), 3);
}

#[test]
fn an_agents_rate_limits_take_the_keys_they_leave_out_from_the_files() {
    let p = compile(&[src(
        "p.yaml",
        "rate_limits:\n  max_requests_per_minute: 30\n  burst: 5\n  on_exceed: throttle\n  \
         alert_channel: slack:#sec\nagents:\n  a:\n    rate_limits:\n      max_requests_per_minute: 60\n    \
         allow: [{service: git, actions: [read], resources: [r]}]\n  \
         b:\n    allow: [{service: git, actions: [read], resources: [r]}]\n",
    )])
    .unwrap();
    let a = p.agents["a"].rate_limits.as_ref().unwrap();
    assert_eq!(a.max_requests_per_minute, 60);
    assert_eq!(a.burst, Some(5));
    assert_eq!(a.on_exceed(), super::model::OnRateExceeded::Throttle);
    assert_eq!(a.alert_channel.as_deref(), Some("slack:#sec"));
    let b = p.agents["b"].rate_limits.as_ref().unwrap();
    assert_eq!(b.max_requests_per_minute, 30);
}

#[test]
fn the_playbooks_invalid_shape_names_the_line_and_the_form_to_write() {
    let text = "policies:\n  - aws:ecs:UpdateService on arn:aws:ecs:*:*:service/prod-*\n    requires_approval: true\n";
    let e = err("ci.yaml", text);
    assert!(e.starts_with("ci.yaml:3:"), "{e}");
    assert!(
        e.contains("- rule: \"aws:ecs:UpdateService on arn:aws:ecs:*:*:service/prod-*\""),
        "{e}"
    );
    assert!(e.contains("requires_approval: true"), "{e}");
}

#[test]
fn unknown_keys_are_errors_at_the_key() {
    let e = err(
        "p.yaml",
        "agents:\n  a:\n    allow:\n      - service: git\n        action: [read]\n",
    );
    assert!(e.starts_with("p.yaml:5:9"), "{e}");
    assert!(e.contains("unknown field `action`"), "{e}");
    assert!(e.contains("expected one of"), "{e}");
}

#[test]
fn bad_units_are_explained() {
    let e = err("p.yaml", "budget:\n  alert_at: 80\n");
    assert!(e.contains("p.yaml:2:"), "{e}");
    assert!(
        e.contains("`80` is not a percentage; write e.g. `80%`"),
        "{e}"
    );
    let e = err("p.yaml", "project_budget:\n  monthly_limit: 500\n");
    assert!(e.contains("write e.g. `$500`"), "{e}");
    let e = err("p.yaml", "project_budget:\n  monthly_limit: $5OO\n");
    assert!(e.starts_with("p.yaml:2:"), "{e}");
    assert!(e.contains("`$5OO` is not an amount of money"), "{e}");
    let e = err(
        "p.yaml",
        "project_budget:\n  monthly_limit: $500\n  alert_thresholds: [50%, 120%]\n",
    );
    assert!(e.starts_with("p.yaml:3:"), "{e}");
    assert!(e.contains("`120%` is more than 100%"), "{e}");
    let e = err(
        "p.yaml",
        "project_budget:\n  monthly_limit: $500\n  alert_thresholds:\n    - 75%\n    - 50%\n",
    );
    assert!(e.starts_with("p.yaml:5:"), "{e}");
    assert!(e.contains("must increase"), "{e}");
    let e = err("p.yaml", "project_budget:\n  on_exceed: deny\n");
    assert!(e.contains("sets no limit"), "{e}");
    let e = err(
        "p.yaml",
        "project_budget:\n  daily_limit: $5\n  time_zone: Mars/Olympus\n",
    );
    assert!(e.starts_with("p.yaml:3:"), "{e}");
    assert!(e.contains("not a time zone"), "{e}");
    let e = err("p.yaml", "budget:\n  max_tokens_per_session: 0\n");
    assert!(e.starts_with("p.yaml:2:"), "{e}");
    assert!(e.contains("must be 1 to"), "{e}");
    let e = err("p.yaml", "budget:\n  alert_at: 0%\n");
    assert!(e.contains("must be 1% to 100%"), "{e}");
    let e = err(
        "p.yaml",
        "agents:\n  a:\n    rate_limits:\n      max_requests_per_minute: 0\n",
    );
    assert!(e.starts_with("p.yaml:4:"), "{e}");
    assert!(e.contains("must be 1 to"), "{e}");
    let e = err("p.yaml", "budget:\n  alert_channel: pager:#x\n");
    assert!(e.starts_with("p.yaml:2:"), "{e}");
    let e = err(
        "p.yaml",
        "project_budget:\n  monthly_limit: $10000000000000\n",
    );
    assert!(e.starts_with("p.yaml:2:"), "{e}");
    assert!(e.contains("at most $1,000,000,000,000"), "{e}");
    let e = err(
        "p.yaml",
        "policies:\n  - rule: \"git:push on repos/*\"\n    approval_timeout: 5 weeks\n",
    );
    assert!(e.contains("p.yaml:2:"), "{e}");
    assert!(e.contains("unknown unit"), "{e}");
}

#[test]
fn bad_compact_lines_are_explained() {
    let e = err("a.yaml", "policies:\n  - git read on repos/*\n");
    assert!(e.starts_with("a.yaml:2:"), "{e}");
    assert!(e.contains("names no service"), "{e}");
    let e = err("a.yaml", "policies:\n  - git:read repos/*\n");
    assert!(e.contains("has no ` on `"), "{e}");
}

#[test]
fn plaintext_tokens_are_refused() {
    let e = err("p.yaml", "agents:\n  a:\n    tokens: [\"pal_secret\"]\n");
    assert!(e.starts_with("p.yaml:3:"), "{e}");
    assert!(e.contains("never the token itself"), "{e}");
}

#[test]
fn repeated_scalars_and_agents_are_errors() {
    let e = err("p.yaml", "project: a\nproject: b\n");
    assert!(e.starts_with("p.yaml:2:"), "{e}");
    let a = src("a.yaml", "agents:\n  x: {}\n");
    let b = src("b.yaml", "agents:\n  x: {}\n");
    let e = compile(&[a, b]).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("agent `x` is defined twice"), "{e}");
}

#[test]
fn undeclared_plugins_are_errors() {
    let p = compile(&[src("p.yaml", "services:\n  git:\n    plugin: nope\n")]).unwrap();
    assert!(p.check_plugins(|n| n == "nope").is_ok());
    let e = p.check_plugins(|_| false).unwrap_err().to_string();
    assert!(e.contains("plugin `nope` is used but not declared"), "{e}");
    assert!(e.starts_with("p.yaml:3:13:"), "at the name: {e}");
    let p = compile(&[src("q.yaml", "project: x\nchain: [glob, nah]\n")]).unwrap();
    let e = p.check_plugins(|_| false).unwrap_err().to_string();
    assert!(e.starts_with("q.yaml:2:15:"), "at the name: {e}");
}

#[test]
fn a_token_hash_names_one_identity() {
    let h = format!("sha256:{}", "ab".repeat(32));
    let shared = format!("agents:\n  a: {{tokens: [\"{h}\"]}}\n  b: {{tokens: [\"{h}\"]}}\n");
    let e = compile(&[src("p.yaml", &shared)])
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`a` and `b` hold the same token hash"), "{e}");
    // An agent's token listed for an admin would let the agent administer.
    let agent = src("a.yaml", &format!("agents:\n  a: {{tokens: [\"{h}\"]}}\n"));
    let admin = src("b.yaml", &format!("admins:\n  ops: [\"{h}\"]\n"));
    let e = compile(&[agent, admin])
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`a` and `ops` hold the same token hash"), "{e}");
}

#[test]
fn an_admin_named_like_an_agent_is_refused_whatever_the_file_order() {
    let admin = src("a.yaml", "admins:\n  x: []\n");
    let agent = src("b.yaml", "agents:\n  x: {}\n");
    let e = compile(&[admin, agent])
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`x` is both an agent (of project `default`) and an admin"),
        "{e}"
    );
}

#[test]
fn plugin_entries_in_a_policy_are_checked_like_in_the_configuration() {
    let e = err(
        "p.yaml",
        "plugins:\n  t:\n    builtin: glob\n    sha256: abc\n",
    );
    assert!(e.starts_with("p.yaml:3:"), "{e}");
    assert!(
        e.contains("plugin `t`: `sha256: abc` is not a sha256 digest"),
        "{e}"
    );
}

#[test]
fn masking_block_compiles_and_refuses_what_it_cannot_mean() {
    let p = compile(&[src(
        "m.yaml",
        "project: p\nservices:\n  zendesk: { masking: [pii] }\n  git: { plugin: glob }\n\
         masking:\n  chain: [secrets]\n  operators:\n    credit_card: last_four\n    default: label\n",
    )])
    .unwrap();
    assert_eq!(p.masking.chain_for("zendesk"), ["pii", "secrets"]);
    assert_eq!(p.masking.chain_for("git"), ["secrets"]);
    assert_eq!(p.masking.operator("credit_card"), Operator::LastFour);
    assert_eq!(p.masking.operator("email"), Operator::Label);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);

    let empty = compile(&[src("m.yaml", "project: p\nmasking:\n  chain: []\n")]).unwrap();
    assert!(
        empty.warnings[0].at.starts_with("m.yaml:3:")
            && empty.warnings[0].message.contains("unmasked"),
        "{:?}",
        empty.warnings
    );

    let e = err(
        "m.yaml",
        "project: p\nmasking:\n  operators:\n    ssn: shred\n",
    );
    assert!(e.starts_with("m.yaml:4:") && e.contains("shred"), "{e}");
    let e = err("m.yaml", "project: p\nservices:\n  x: {}\n");
    assert!(e.contains("names no plugin"), "{e}");
    let e = compile(&[
        src("a.yaml", "project: p\nmasking:\n  chain: [pii]\n"),
        src("b.yaml", "project: p\nmasking:\n  chain: [pii]\n"),
    ])
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("b.yaml:") && e.contains("configured in a.yaml"),
        "{e}"
    );
}

/// Seed 000's two-agent block (chapter 2), pasted into one file with its
/// option lines fixed.
const SEED_000_BLOCK: &str = "\
# code-reviewer — read and comment only
policies:
  - git:read on repos/*
  - git:comment on repos/*/pull-requests/*

# ci-runner — staging free, production gated
policies:
  - git:read on repos/*
  - git:push on repos/*/branches/feature/*
  - aws:ecs:UpdateService on arn:aws:ecs:*:*:service/staging-*
  - rule: \"aws:ecs:UpdateService on arn:aws:ecs:*:*:service/prod-*\"
    requires_approval: true
";

#[test]
fn a_repeated_top_level_policies_list_never_merges_two_agents() {
    let e = err("agents.yaml", SEED_000_BLOCK);
    // The second list's line, the first's, and the form to write, with the
    // names the comments give.
    assert!(e.starts_with("agents.yaml:7:1:"), "{e}");
    assert!(e.contains("first at line 2"), "{e}");
    assert!(
        e.contains("agents:\n    code-reviewer:\n      policies:"),
        "{e}"
    );
    assert!(e.contains("\n    ci-runner:\n      policies:"), "{e}");
    // Repeated lists within one agent still merge, with a warning.
    let p = compile(&[src("one.yaml", "agents:\n  a:\n    policies:\n      - git:read on r/*\n    policies:\n      - git:push on r/*\n")]).unwrap();
    assert_eq!(p.agents["a"].rules["git"].len(), 2);
    assert!(
        p.warnings[0].message.contains("`policies` is repeated"),
        "{:?}",
        p.warnings
    );
}

fn hash(byte: u8) -> String {
    format!("sha256:{}", hex::encode([byte; 32]))
}

/// A directory of projects: `server` top-level files and `(folder, files)`.
fn projects(server: &[(&str, &str)], folders: &[(&str, &[(&str, &str)])]) -> Root {
    Root {
        layout: Layout::Projects,
        server: server.iter().map(|(n, t)| src(n, t)).collect(),
        projects: folders
            .iter()
            .map(|(folder, files)| ProjectSources {
                folder: (*folder).into(),
                sources: files
                    .iter()
                    .map(|(n, t)| src(&format!("{folder}/{n}"), t))
                    .collect(),
                unreadable: None,
            })
            .collect(),
    }
}

fn set_err(root: &Root) -> String {
    super::compile(root).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn a_directory_of_projects_compiles_each_with_its_own_agents_and_roles() {
    let people = format!(
        "admins:\n  ops: [\"{}\"]\nroles:\n  alice:\n    tokens: [\"{}\"]\n    admin: [invoice-processor]\n    approver: [invoice-processor, platform]\n    slack_user: U024BE7LH\n",
        hash(1),
        hash(2)
    );
    let platform = format!(
        "project: platform\nagents:\n  claude-invoice-01:\n    tokens: [\"{}\"]\n    policies:\n      - git:read on repos/*\n",
        hash(3)
    );
    let root = projects(
        &[("people.yaml", &people)],
        &[
            ("invoice", &[("policy.yaml", INVOICE)]),
            ("platform", &[("agents.yaml", &platform)]),
        ],
    );
    let set = super::compile(&root).unwrap();
    assert_eq!(
        set.projects.keys().collect::<Vec<_>>(),
        ["invoice-processor", "platform"]
    );
    // Agent names are unique within a project, not across projects.
    for p in set.projects.values() {
        assert!(p.agents.contains_key("claude-invoice-01"));
    }
    assert_eq!(set.projects["platform"].folder, "platform");
    // Rule ids name the project's file, relative to the root.
    let rules = &set.projects["invoice-processor"].agents["claude-invoice-01"].rules["git"];
    assert!(
        rules[0].id.starts_with("invoice/policy.yaml:"),
        "{}",
        rules[0].id
    );
    let ops = &set.server.people["ops"];
    assert!(ops.server_admin && ops.administers("platform"));
    let alice = &set.server.people["alice"];
    assert!(!alice.server_admin);
    assert!(alice.administers("invoice-processor") && !alice.administers("platform"));
    assert!(alice.approver_of.contains("platform"));
    assert_eq!(alice.slack_user.as_deref(), Some("U024BE7LH"));
    assert_eq!(set.server.layout, Layout::Projects);
    assert_eq!(set.server.version.len(), 16);
}

#[test]
fn bad_directories_of_projects_are_refused_at_the_line() {
    let a = "project: same\nagents:\n  x: {}\n";
    // Two projects with one name.
    let e = set_err(&projects(
        &[],
        &[("a", &[("p.yaml", a)]), ("b", &[("p.yaml", a)])],
    ));
    assert!(e.starts_with("b/p.yaml:1:10:"), "{e}");
    assert!(
        e.contains("project `same` is also defined at a/p.yaml:1:10"),
        "{e}"
    );
    // One token hash for agents of two projects.
    let with = |project: &str| {
        format!(
            "project: {project}\nagents:\n  ci:\n    policies: [\"git:read on r/*\"]\nidentities:\n  ci: [\"{}\"]\n",
            hash(9)
        )
    };
    let (one, two) = (with("one"), with("two"));
    let e = set_err(&projects(
        &[],
        &[("one", &[("p.yaml", &one)]), ("two", &[("p.yaml", &two)])],
    ));
    assert!(e.starts_with("two/p.yaml:6:"), "{e}");
    assert!(
        e.contains("`ci` and `ci` hold the same token hash (also at one/p.yaml:6:"),
        "{e}"
    );
    // A project file without `project:`.
    let e = set_err(&projects(
        &[],
        &[("a", &[("p.yaml", a), ("q.yaml", "agents:\n  y: {}\n")])],
    ));
    assert!(
        e.starts_with("a/q.yaml:1:1:") && e.contains("names no project"),
        "{e}"
    );
    // A role naming an unknown project.
    let roles = format!(
        "roles:\n  bob:\n    tokens: [\"{}\"]\n    admin: [smae]\n",
        hash(4)
    );
    let e = set_err(&projects(
        &[("roles.yaml", &roles)],
        &[("a", &[("p.yaml", a)])],
    ));
    assert!(e.starts_with("roles.yaml:4:13:"), "{e}");
    assert!(
        e.contains("names project `smae`, which no policy file defines; projects are: same"),
        "{e}"
    );
    // A Slack user id that is a name, and one id for two people.
    let e = set_err(&projects(
        &[(
            "roles.yaml",
            "roles:\n  bob:\n    approver: [same]\n    slack_user: \"@bob\"\n",
        )],
        &[("a", &[("p.yaml", a)])],
    ));
    assert!(
        e.starts_with("roles.yaml:4:17:") && e.contains("is not a Slack user id"),
        "{e}"
    );
    let e = set_err(&projects(
        &[(
            "roles.yaml",
            "roles:\n  bob: {approver: [same], slack_user: U024BE7LH}\n  \
             eve: {approver: [same], slack_user: U024BE7LH}\n",
        )],
        &[("a", &[("p.yaml", a)])],
    ));
    assert!(
        e.starts_with("roles.yaml:3:") && e.contains("have the same `slack_user` `U024BE7LH`"),
        "{e}"
    );
    // A role that grants nothing.
    let e = set_err(&projects(
        &[("roles.yaml", "roles:\n  bob: {tokens: []}\n")],
        &[("a", &[("p.yaml", a)])],
    ));
    assert!(
        e.starts_with("roles.yaml:2:") && e.contains("grants nothing"),
        "{e}"
    );
    // Server-wide blocks inside a project, project blocks at the top.
    let admins = format!("project: same\nadmins:\n  ops: [\"{}\"]\n", hash(5));
    let e = set_err(&projects(&[], &[("a", &[("p.yaml", &admins)])]));
    assert!(
        e.starts_with("a/p.yaml:2:") && e.contains("top-level file"),
        "{e}"
    );
    let e = set_err(&projects(&[("top.yaml", a)], &[("a", &[("p.yaml", a)])]));
    assert!(
        e.starts_with("top.yaml:1:1:") && e.contains("belongs to a project"),
        "{e}"
    );
}

#[test]
fn each_project_of_a_directory_has_its_own_audit_block() {
    let block = |p: &str, to: &str| {
        format!("project: {p}\naudit:\n  retention: 30d\n  export:\n    destination: {to}\n")
    };
    let set = crate::policy::compile(&projects(
        &[("audit.yaml", "audit:\n  export: {destination: shared/}\n")],
        &[
            ("a", &[("p.yaml", &block("a", "a-out/"))]),
            ("b", &[("p.yaml", "project: b\n")]),
        ],
    ))
    .unwrap();
    let plan = |p: &str| {
        set.projects[p]
            .audit
            .as_ref()
            .map(|(plan, file)| (plan.clone(), file.clone()))
    };
    let (a, file) = plan("a").unwrap();
    assert!(file.starts_with("a/p.yaml:"), "{file}");
    assert_eq!(
        a.retention,
        Some(std::time::Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        a.export.unwrap().destination,
        crate::audit::Destination::parse_policy("a-out/").unwrap()
    );
    assert_eq!(plan("b"), None, "b takes the server's");
    assert!(set.server.audit.export.is_some());
    // Configured once per project; a bad destination names its line.
    let e = set_err(&projects(
        &[],
        &[(
            "a",
            &[("p.yaml", &block("a", "x/")), ("q.yaml", &block("a", "y/"))],
        )],
    ));
    assert!(
        e.starts_with("a/q.yaml:3:") && e.contains("configured in a/p.yaml already"),
        "{e}"
    );
    // The server's retention is the least a project keeps.
    let server = "audit:\n  retention: 365d\n  export: {destination: shared/}\n";
    let e = set_err(&projects(
        &[("audit.yaml", server)],
        &[("a", &[("p.yaml", &block("a", "a-out/"))])],
    ));
    assert!(
        e.starts_with("a/p.yaml:") && e.contains("shorter than the server's"),
        "{e}"
    );
    let longer = block("a", "a-out/").replace("30d", "400d");
    let longer = projects(&[("audit.yaml", server)], &[("a", &[("p.yaml", &longer)])]);
    assert!(crate::policy::compile(&longer).is_ok());
    // The data directory itself is no destination.
    let e = set_err(&projects(&[], &[("a", &[("p.yaml", &block("a", "."))])]));
    assert!(e.contains("the data directory itself"), "{e}");
    let e = set_err(&projects(
        &[],
        &[("a", &[("p.yaml", &block("a", "../out"))])],
    ));
    assert!(
        e.starts_with("a/p.yaml:5:") && e.contains("leaves the data directory"),
        "{e}"
    );
}

#[test]
fn a_project_name_is_one_plain_segment() {
    for bad in ["\"a/b\"", "\"..\"", "\".hidden\"", "\"a b\"", "\"\""] {
        let text = format!("project: {bad}\n");
        let e = set_err(&projects(&[], &[("a", &[("p.yaml", &text)])]));
        assert!(
            e.starts_with("a/p.yaml:1:") && e.contains("project name"),
            "{bad}: {e}"
        );
    }
    for good in ["invoice-processor", "team_1.prod", "A"] {
        let text = format!("project: {good}\n");
        assert!(
            crate::policy::compile(&projects(&[], &[("a", &[("p.yaml", &text)])])).is_ok(),
            "{good}"
        );
    }
}

#[test]
fn a_root_read_from_disk_is_one_project_or_a_directory_of_projects() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("one.yaml"), "project: p\n").unwrap();
    let cap = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority()).unwrap();
    let r = read_root(&cap, ".", "root").unwrap();
    assert_eq!(r.layout, Layout::Project);
    assert_eq!(r.projects[0].sources[0].name, "one.yaml");
    std::fs::create_dir(root.join("team")).unwrap();
    std::fs::write(root.join("team/a.yaml"), "project: t\n").unwrap();
    std::fs::create_dir(root.join(".git")).unwrap();
    let r = read_root(&cap, ".", "root").unwrap();
    assert_eq!(r.layout, Layout::Projects);
    assert_eq!(r.server[0].name, "one.yaml");
    assert_eq!(r.projects.len(), 1, "hidden folders are not projects");
    assert_eq!(r.projects[0].folder, "team");
    assert_eq!(r.projects[0].sources[0].name, "team/a.yaml");
    // A folder without policy files (plugins, say) is not a project.
    std::fs::create_dir(root.join("plugins")).unwrap();
    std::fs::write(root.join("plugins/x.wasm"), "").unwrap();
    assert_eq!(read_root(&cap, ".", "root").unwrap().projects.len(), 1);
    // Policy files one folder too deep would be passed over: refused, as
    // that project's failure (not the root's), and so are files that are
    // not text.
    std::fs::create_dir_all(root.join("team/more")).unwrap();
    std::fs::write(root.join("team/more/b.yaml"), "project: t\n").unwrap();
    std::fs::create_dir(root.join("other")).unwrap();
    std::fs::write(root.join("other/a.yaml"), [0xff, 0xfe, 0x00]).unwrap();
    let r = read_root(&cap, ".", "root").unwrap();
    let folders: Vec<&str> = r.projects.iter().map(|p| p.folder.as_str()).collect();
    assert_eq!(folders, ["other", "team"]);
    let e = r.projects[1].readable().unwrap_err().to_string();
    assert!(
        e.starts_with("team/more:") && e.contains("would not be read"),
        "{e}"
    );
    let e = r.projects[0].readable().unwrap_err().to_string();
    assert!(
        e.starts_with("other/a.yaml:") && e.contains("cannot read"),
        "{e}"
    );
    std::fs::remove_file(root.join("one.yaml")).unwrap();
    let r = read_root(&cap, ".", "root").unwrap();
    let e = super::compile(&r).map(|_| ()).unwrap_err().to_string();
    assert!(
        e.starts_with("other/a.yaml:"),
        "strict compile refuses: {e}"
    );
}

#[test]
fn a_malformed_approval_channel_or_timeout_is_refused_at_its_line() {
    let cases = [
        (
            "policies:\n  - git:read on repos/*\n  - rule: \"git:push on repos/*\"\n    requires_approval: true\n    approval_channel: deploy-approvals\n",
            "p.yaml:5:",
            "write `slack:#CHANNEL`",
        ),
        (
            "policies:\n  - rule: \"git:push on repos/*\"\n    requires_approval: true\n    approval_timeout: 0s\n",
            "p.yaml:4:",
            "1s to 30d",
        ),
        (
            "policies:\n  - rule: \"git:push on repos/*\"\n    requires_approval: true\n    approval_timeout: 31d\n",
            "p.yaml:4:",
            "1s to 30d",
        ),
        (
            "agents:\n  bot:\n    require_approval:\n      - service: git\n        actions: [push]\n        approval_channel: \"email:ops@example.com\"\n",
            "p.yaml:6:",
            "is not a kind of channel",
        ),
    ];
    for (text, at, says) in cases {
        let e = compile(&[Source {
            name: "p.yaml".into(),
            text: text.into(),
        }])
        .unwrap_err()
        .to_string();
        assert!(e.starts_with(at) && e.contains(says), "{text}\n{e}");
    }
    // The seeds' channel, as written, loads with its settings.
    let ok = "policies:\n  - rule: \"aws:ecs:UpdateService on arn:aws:ecs:*:*:service/prod-*\"\n    requires_approval: true\n    approval_channel: slack:#deploy-approvals\n    approval_timeout: 60m\n";
    let p = compile(&[Source {
        name: "ci-runner.yaml".into(),
        text: ok.into(),
    }])
    .unwrap();
    let rule = &p.agents["ci-runner"].rules["aws"][0];
    let settings = rule.approval.as_ref().unwrap();
    assert_eq!(settings.channel.as_deref(), Some("slack:#deploy-approvals"));
    assert_eq!(settings.timeout_seconds, Some(3600));
}

#[test]
fn a_projects_approval_defaults_are_checked_once_at_their_line() {
    let ok = "approvals:\n  channel: slack:#approvals\n  timeout: 30m\npolicies:\n  - git:read on repos/*\n";
    let p = compile(&[src("p.yaml", ok)]).unwrap();
    assert_eq!(p.approvals.channel.as_deref(), Some("slack:#approvals"));
    assert_eq!(p.approvals.timeout.map(|t| t.0), Some(1800));
    for (text, says) in [
        ("approvals:\n  channel: approvals\n", "p.yaml:2:"),
        ("approvals:\n  timeout: 0s\n", "p.yaml:2:"),
        ("approvals:\n  timeout: 1000000y\n", "p.yaml:2:"),
        (
            "approvals:\n  channel: slack:#a\n  escalate: true\n",
            "p.yaml:",
        ),
    ] {
        let e = compile(&[src("p.yaml", text)]).unwrap_err().to_string();
        assert!(e.starts_with(says), "{text}\n{e}");
    }
    let e = compile(&[
        src("a.yaml", "approvals: {channel: \"slack:#a\"}\n"),
        src("b.yaml", "approvals: {channel: \"slack:#b\"}\n"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("configured in a.yaml already"), "{e}");
}

#[test]
fn session_limits_come_from_the_agents_budget_key_by_key_else_the_projects_block() {
    let text = "\
sessions:
  idle_timeout: 2h
  max_duration: 8h
budget:
  max_session_duration: 4h
agents:
  plain:
    policies: [\"git:read on repos/*\"]
  quick:
    policies: [\"git:read on repos/*\"]
    budget:
      session_idle_timeout: 10m
";
    let p = compile(&[src("p.yaml", text)]).unwrap();
    let limits = |a: &str| p.session_limits(&p.agents[a]);
    // The file's budget over the project's block.
    assert_eq!(limits("plain").idle_timeout_s, Some(7200));
    assert_eq!(limits("plain").max_duration_s, Some(4 * 3600));
    // The agent's key over both; the keys it leaves out from the file.
    assert_eq!(limits("quick").idle_timeout_s, Some(600));
    assert_eq!(limits("quick").max_duration_s, Some(4 * 3600));
    // Zero, twice, or unknown keys: refused at the line.
    for (text, says) in [
        ("sessions:\n  idle_timeout: 0s\n", "p.yaml:2:"),
        ("sessions:\n  max_duration: 0m\n", "p.yaml:2:"),
        ("sessions:\n  idle: 2h\n", "p.yaml:"),
        ("budget:\n  session_idle_timeout: 0s\n", "p.yaml:2:"),
        (
            "agents:\n  a:\n    budget:\n      max_session_duration: 0s\n",
            "p.yaml:4:",
        ),
    ] {
        let e = compile(&[src("p.yaml", text)]).unwrap_err().to_string();
        assert!(e.starts_with(says), "{text}\n{e}");
    }
    let e = compile(&[
        src("a.yaml", "sessions: {idle_timeout: 1h}\n"),
        src("b.yaml", "sessions: {idle_timeout: 2h}\n"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`sessions` is configured in a.yaml already"),
        "{e}"
    );
    // A budget of session limits only is enforced: no warning.
    let p = compile(&[src(
        "p.yaml",
        "budget:\n  session_idle_timeout: 30m\npolicies: [\"git:read on r/*\"]\n",
    )])
    .unwrap();
    assert!(
        !p.warnings
            .iter()
            .any(|w| w.message.contains("not enforced")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn an_alerts_block_compiles_each_kind_and_refuses_mistakes_at_their_line() {
    use super::alert_rules::Condition;
    let text = "\
alerts:
  - kind: denied
    threshold: 3
    window: 5m
    channel: slack:#security
  - kind: volume
  - kind: off_hours
    hours: \"09:00-17:30\"
    days: [mon, tue]
    time_zone: Europe/Berlin
    cooldown: 1h
  - kind: first_access
    learn_for: 1d
policies: [\"git:read on r/*\"]
";
    let p = compile(&[src("p.yaml", text)]).unwrap();
    let a = &p.alerts;
    assert_eq!(a.len(), 4);
    assert_eq!(
        a[0].condition,
        Condition::Denied {
            threshold: 3,
            window_s: 300
        }
    );
    assert_eq!(a[0].channel.as_deref(), Some("slack:#security"));
    assert_eq!(a[0].cooldown_s, 900);
    assert_eq!(
        a[1].condition,
        Condition::Volume {
            factor: 10,
            min_history_s: 3600,
            min_requests: 20
        }
    );
    match &a[2].condition {
        Condition::OffHours {
            start, end, days, ..
        } => {
            assert_eq!((*start, *end), (540, 1050));
            assert_eq!(days, &[true, true, false, false, false, false, false]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a[2].cooldown_s, 3600);
    assert_eq!(
        a[3].condition,
        Condition::FirstAccess {
            learn_for_s: 86_400
        }
    );
    for (text, says) in [
        ("alerts:\n  - kind: loud\n", "p.yaml:"),
        ("alerts:\n  - kind: denied\n    factor: 3\n", "p.yaml:3:"),
        ("alerts:\n  - kind: denied\n    threshold: 0\n", "p.yaml:3:"),
        ("alerts:\n  - kind: volume\n    factor: 1\n", "p.yaml:3:"),
        (
            "alerts:\n  - kind: off_hours\n    hours: 9-5\n",
            "p.yaml:3:",
        ),
        (
            "alerts:\n  - kind: off_hours\n    days: [funday]\n",
            "p.yaml:3:",
        ),
        (
            "alerts:\n  - kind: off_hours\n    time_zone: Mars/Olympus\n",
            "p.yaml:3:",
        ),
        (
            "alerts:\n  - kind: denied\n    channel: pager\n",
            "p.yaml:3:",
        ),
        ("alerts:\n  - kind: denied\n    cooldown: 0s\n", "p.yaml:3:"),
    ] {
        let e = compile(&[src("p.yaml", text)]).unwrap_err().to_string();
        assert!(e.starts_with(says), "{text}\n{e}");
    }
    let e = compile(&[
        src("a.yaml", "alerts: [{kind: denied}]\n"),
        src("b.yaml", "alerts: [{kind: volume}]\n"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`alerts` is configured in a.yaml already"),
        "{e}"
    );
}

#[test]
fn tool_calls_are_checked_at_their_line() {
    let ok = "tool_calls:\n  on_approval: ask\n  approval_wait: 30s\n  git_hosts: [github.com, GitLab.com]\n  mcp:\n    github:\n      resource: \"{/owner}/{/repo}\"\npolicies:\n  - git:read on repos/*\n";
    let p = compile(&[src("p.yaml", ok)]).unwrap();
    assert_eq!(
        p.tool_calls.on_approval,
        crate::toolcall::plan::OnApproval::Ask
    );
    assert_eq!(p.tool_calls.approval_wait_s, 30);
    assert_eq!(p.tool_calls.git_hosts, ["github.com", "gitlab.com"]);
    for (text, says, what) in [
        (
            "tool_calls:\n  approval_wait: 1h\n",
            "p.yaml:2:",
            "1s to 10m",
        ),
        (
            "tool_calls:\n  git_hosts: [\"https://github.com\"]\n",
            "p.yaml:2:",
            "host name",
        ),
        (
            "tool_calls:\n  mcp:\n    github:\n      resource: \"{owner}\"\n",
            "p.yaml:4:",
            "JSON pointer",
        ),
        (
            "tool_calls:\n  on_approval: maybe\n",
            "p.yaml:",
            "unknown variant",
        ),
        (
            "tool_calls:\n  mcp:\n    github:\n      resources: /x\n",
            "p.yaml:",
            "unknown field",
        ),
    ] {
        let e = err("p.yaml", text);
        assert!(e.starts_with(says) && e.contains(what), "{text}\n{e}");
    }
}
