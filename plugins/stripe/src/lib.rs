//! Policy plugin for Stripe.
//!
//! * **Actions** are `TYPE:VERB` (`invoices:read`, `charges:create`,
//!   `refunds:create`, `customers:delete`), case-insensitive. Verbs are
//!   `read`, `list`, `retrieve`, `create`, `update`, `delete`, and a rule's
//!   verb `read` covers `read`, `list` and `retrieve`, `write` covers
//!   `create`, `update` and `delete`. `*` works on either side of the `:`.
//! * **Resources** are object ids (`in_123`) or `*`; a rule's `*` (or no
//!   resources) matches every object. A request whose object id belongs to
//!   another type than its action names (`invoices:read` on `ch_1`, a charge)
//!   is denied: an agent cannot read a charge by calling it an invoice.
//! * An action with an unknown verb, or an id with `%`, `/`, `\`, control or
//!   non-ASCII characters, is denied.
//! * **Canonical form**: Stripe ids are case-sensitive (`cus_Ab` and `cus_ab`
//!   are two customers), so ids are compared exactly. Their type prefix is
//!   always lowercase: an id whose prefix has an uppercase letter (`CH_1`) is
//!   denied rather than let past the type check.

use palisade_guest::decide::strongest_match;
use palisade_guest::{Policy, Request, Rule, Verdict, glob};

/// The Stripe policy.
pub struct StripePolicy;

const READ: &[&str] = &["read", "list", "retrieve"];
const WRITE: &[&str] = &["create", "update", "delete"];

/// Object id prefixes and the resource type they belong to.
const PREFIXES: &[(&str, &str)] = &[
    ("in_", "invoices"),
    ("ch_", "charges"),
    ("cus_", "customers"),
    ("re_", "refunds"),
    ("pi_", "payment_intents"),
    ("sub_", "subscriptions"),
    ("prod_", "products"),
    ("price_", "prices"),
    ("po_", "payouts"),
    ("pm_", "payment_methods"),
];

fn verb_matches(pattern: &str, verb: &str) -> bool {
    match pattern.to_ascii_lowercase().as_str() {
        "read" => READ.contains(&verb),
        "write" => WRITE.contains(&verb),
        p => glob::matches(p, verb),
    }
}

fn action_matches(pattern: &str, ty: &str, verb: &str) -> bool {
    match pattern.split_once(':') {
        Some((pt, pv)) => glob::matches_ignore_case(pt, ty) && verb_matches(pv, verb),
        None => pattern == "*",
    }
}

impl Policy for StripePolicy {
    fn evaluate(req: &Request, rules: &[Rule]) -> Verdict {
        let action = req.action.to_ascii_lowercase();
        let Some((ty, verb)) = action.split_once(':') else {
            return Verdict::deny(format!(
                "`{}` is not a Stripe action (`type:verb`, e.g. `invoices:read`)",
                req.action
            ));
        };
        if !READ.contains(&verb) && !WRITE.contains(&verb) {
            return Verdict::deny(format!(
                "`{verb}` is not a Stripe verb; use read, list, retrieve, create, update or delete"
            ));
        }
        let id = req.resource.as_str();
        if id != "*" && !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Verdict::deny(format!("`{id}` is not a Stripe object id"));
        }
        if let Some((prefix, _)) = id.split_once('_')
            && prefix.chars().any(|c| c.is_ascii_uppercase())
        {
            return Verdict::deny(format!(
                "`{id}` is not a Stripe object id (id prefixes are lowercase)"
            ));
        }
        if let Some((prefix, owner)) = PREFIXES.iter().find(|(p, _)| id.starts_with(p))
            && *owner != ty
        {
            return Verdict::deny(format!("`{id}` is a {owner} object (`{prefix}`), not {ty}"));
        }
        strongest_match(req, rules, |rule, r| {
            rule.actions.iter().any(|p| action_matches(p, ty, verb))
                && glob::matches_any(&rule.resources, &r.resource)
        })
    }
}

palisade_guest::export_policy!(StripePolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_guest::testing::TestHost;

    fn eval(action: &str, resource: &str, rules: &[Rule]) -> Verdict {
        TestHost::new().install();
        StripePolicy::evaluate(&Request::new("stripe", action, resource), rules)
    }

    fn invoice() -> Vec<Rule> {
        vec![
            Rule::allow(["invoices:read", "customers:read"], ["*"]),
            Rule::deny(
                ["charges:create", "refunds:create", "customers:delete"],
                ["*"],
            ),
        ]
    }

    #[test]
    fn seed_001_stripe_rules() {
        let r = invoice();
        assert!(eval("invoices:read", "in_123", &r).is_allow());
        assert!(eval("invoices:list", "*", &r).is_allow());
        assert!(eval("customers:retrieve", "cus_9", &r).is_allow());
        assert!(eval("charges:create", "*", &r).is_deny());
        assert!(eval("refunds:create", "re_1", &r).is_deny());
        assert!(eval("customers:delete", "cus_9", &r).is_deny());
        assert_eq!(eval("invoices:update", "in_1", &r), Verdict::Abstain);
    }

    #[test]
    fn type_confusion_and_case_games() {
        let r = invoice();
        assert!(
            eval("invoices:read", "ch_1", &r).is_deny(),
            "a charge is not an invoice"
        );
        assert!(eval("CHARGES:Create", "*", &r).is_deny());
        assert!(eval("invoices:readall", "in_1", &r).is_deny());
        assert!(eval("invoices", "in_1", &r).is_deny());
        assert!(eval("invoices:read", "in_1/../ch_2", &r).is_deny());
        assert!(eval("invoices:read", "in_１", &r).is_deny());
        // A charge spelled with an uppercase prefix is no invoice either.
        for id in ["CH_1", "Ch_1", "cH_1", "IN_1"] {
            assert!(eval("invoices:read", id, &r).is_deny(), "{id}");
        }
        // Ids are case-sensitive: a deny on one id does not catch another.
        let one = [
            Rule::allow(["customers:read"], ["*"]),
            Rule::deny(["customers:read"], ["cus_Ab1"]),
        ];
        assert!(eval("customers:read", "cus_Ab1", &one).is_deny());
        assert!(eval("customers:read", "cus_ab1", &one).is_allow());
    }

    #[test]
    fn verb_groups() {
        let r = [
            Rule::allow(["*:read"], ["*"]),
            Rule::require_approval(["refunds:write"], ["*"]),
        ];
        assert!(eval("charges:list", "*", &r).is_allow());
        assert!(eval("refunds:create", "re_1", &r).is_approve());
        assert_eq!(eval("charges:create", "*", &r), Verdict::Abstain);
    }
}
