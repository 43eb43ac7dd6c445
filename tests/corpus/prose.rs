//! Templates of human-written text: support tickets, e-mails, chat
//! transcripts, invoices and HR records.

use super::generate::kind::{
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, BEARER_TOKEN, CREDIT_CARD, EMAIL, GITHUB_TOKEN,
    GOOGLE_API_KEY, IBAN, IP_ADDRESS, JWT, PASSWORD, PHONE, PRIVATE_KEY, SLACK_TOKEN, SSN,
    STRIPE_KEY,
};
use super::generate::{Gen, near};
use super::templates::{miss, put, value};
use super::values::{self, Pem};

/// Personal-data kinds that appear in prose.
const PROSE_PII: [&str; 6] = [CREDIT_CARD, SSN, IBAN, EMAIL, PHONE, IP_ADDRESS];

/// Writes `before`, a labelled value of `kind`, `after`.
fn say(g: &mut Gen<'_>, before: &str, kind: &'static str, after: &str) {
    g.s(before);
    put(g, kind);
    g.s(after);
}

/// Writes `before`, a near-miss of `category`, `after`.
fn say_near(g: &mut Gen<'_>, before: &str, category: &'static str, after: &str) {
    g.s(before);
    miss(g, category);
    g.s(after);
}

/// A sentence carrying a value of a personal-data `kind`.
fn pii_sentence(g: &mut Gen<'_>, kind: &'static str) {
    match kind {
        CREDIT_CARD => {
            let (b, a) = *g.rng.pick(&[
                ("I was charged twice on my card ", "."),
                ("Card number: ", ", exp 08/27."),
                ("Please update the card on file to ", "."),
                ("The payment with ", " was declined again."),
                ("Can you refund it to my card (", ")?"),
            ]);
            say(g, b, CREDIT_CARD, a);
        }
        SSN => {
            if g.chance(25) {
                let v = values::ssn(g.rng, "");
                g.one_of(&["SSN: ", "For verification, SSN: "])
                    .v(SSN, &v)
                    .s(".");
            } else {
                let (b, a) = *g.rng.pick(&[
                    ("For the tax form, my SSN is ", "."),
                    ("SSN: ", " (please update your records)."),
                    ("Social Security Number: ", "."),
                    ("My social security no. ", " was entered wrong on the W-2."),
                ]);
                say(g, b, SSN, a);
            }
        }
        IBAN => {
            let (b, a) = *g.rng.pick(&[
                ("Please refund to IBAN ", "."),
                ("Our bank details: ", " (BIC COBADEFFXXX)."),
                ("Transfer it to ", ", same account holder."),
                ("New payout account: ", "."),
            ]);
            say(g, b, IBAN, a);
        }
        EMAIL => {
            let (b, a) = *g.rng.pick(&[
                ("Please reply to ", "."),
                ("You can also cc my colleague ", "."),
                ("My login e-mail is ", ", not the old one."),
                ("Send the receipt to ", " please."),
            ]);
            say(g, b, EMAIL, a);
        }
        PHONE => {
            let (b, a) = *g.rng.pick(&[
                ("You can reach me at ", "."),
                ("Call back number: ", "."),
                ("My mobile is ", ", any time after 5pm."),
                ("Or call the office on ", "."),
            ]);
            say(g, b, PHONE, a);
        }
        _ => {
            let (b, a) = *g.rng.pick(&[
                ("Our records show logins from ", "."),
                ("The failed attempts came from ", "."),
                ("My office IP is ", ", please allow-list it."),
                ("Blocked client: ", " (rate limit)."),
            ]);
            say(g, b, IP_ADDRESS, a);
        }
    }
    g.s(" ");
}

/// A sentence that carries a near-miss only, not one of `used` (which it
/// extends).
fn filler_sentence(g: &mut Gen<'_>, used: &mut Vec<usize>) {
    let i = loop {
        let i = g.rng.below(14);
        if !used.contains(&i) || used.len() >= 14 {
            break i;
        }
    };
    used.push(i);
    match i {
        0 => {
            say_near(g, "I placed order ", near::LUHN_FAIL, " on ");
            say_near(g, "", near::DATE, " and it still has not shipped.");
        }
        1 => {
            say_near(
                g,
                "The tracking number ",
                near::NON_CARD_PREFIX,
                " shows no update since ",
            );
            say_near(g, "", near::TIMESTAMP, ".");
        }
        2 => say_near(g, "The app (", near::VERSION, ") crashes on start."),
        3 => {
            let m = values::masked_card(g.rng);
            g.s("My card ending ")
                .n(near::MASKED, &m)
                .s(" was charged twice.");
        }
        4 => say_near(
            g,
            "I already pinged ",
            near::MENTION,
            " about it, no answer.",
        ),
        5 => say_near(g, "Shipping ZIP is ", near::ZIP, "."),
        6 => say_near(g, "The item ", near::PRODUCT_CODE, " arrived damaged."),
        7 => say_near(
            g,
            "Your portal shows my SSN as ",
            near::INVALID_SSN,
            ", which cannot be right.",
        ),
        8 => say_near(
            g,
            "The bank rejected ",
            near::BAD_IBAN,
            " as invalid, can you check it?",
        ),
        9 => say_near(g, "Error reference: ", near::UUID, "."),
        10 => say_near(
            g,
            "It says the address ",
            near::INVALID_IPV4,
            " is blocked?",
        ),
        11 => say_near(g, "My customer number is ", near::NINE_DIGIT_ID, "."),
        12 => say_near(
            g,
            "Order ",
            near::LUHN_FAIL,
            " was cancelled without notice.",
        ),
        _ => say_near(
            g,
            "The receipt lists transaction ",
            near::NON_CARD_PREFIX,
            ".",
        ),
    }
    g.s(" ");
}

/// A support ticket.
pub fn ticket(g: &mut Gen<'_>) {
    let p = values::person(g.rng);
    let n = g.rng.range(10000, 99999).to_string();
    let w = values::when(g.rng);
    let iso = w.iso(g.rng);
    g.s("Ticket #")
        .s(&n)
        .s(" · ")
        .one_of(&["Priority: high", "Priority: normal", "P2", "Billing"]);
    g.s(" · opened ")
        .n(near::TIMESTAMP, &iso)
        .s("\nCustomer: ")
        .s(&p.full());
    if g.pos(70) {
        let e = values::email(g.rng, &p);
        g.s(" <").v(EMAIL, &e).s(">");
    } else if g.chance(40) {
        let u = values::username(g.rng, &p);
        g.s(" (")
            .n(near::MENTION, &format!("@{u}"))
            .s(" on the community forum)");
    }
    g.s("\nSubject: ");
    match g.rng.below(5) {
        0 => say_near(g, "Double charge on order ", near::LUHN_FAIL, ""),
        1 => say_near(g, "Refund for ", near::PRODUCT_CODE, ""),
        2 => say_near(g, "Cannot log in since ", near::VERSION, ""),
        3 => {
            g.s("Account locked");
        }
        _ => {
            g.s("Question about my last invoice");
        }
    }
    g.s("\n\n").one_of(&["Hi team, ", "Hello, ", "Hi, ", ""]);
    let mut used = Vec::new();
    if g.positive {
        let n = g.rng.range(2, 4);
        let kinds = g.pick_kinds(&PROSE_PII, n);
        for k in kinds {
            if g.chance(40) {
                filler_sentence(g, &mut used);
            }
            pii_sentence(g, k);
        }
    } else {
        for _ in 0..g.rng.range(2, 3) {
            filler_sentence(g, &mut used);
        }
    }
    if g.chance(50) {
        g.s("\n-- Agent note: ");
        if g.pos(60) {
            g.s("verified caller, last login from ");
            put(g, IP_ADDRESS);
            g.s(".");
        } else {
            say_near(g, "customer is on ", near::VERSION, ", asked to update.");
        }
    }
    g.s("\n");
}

/// An e-mail, with headers, or a cron mail.
pub fn email(g: &mut Gen<'_>) {
    let p = values::person(g.rng);
    let w = values::when(g.rng);
    if !g.positive && g.chance(35) {
        // Cron mail: local addresses only.
        g.s("From: ")
            .n(near::USER_AT_HOST, "root@localhost")
            .s(" (Cron Daemon)\nTo: ");
        miss(g, near::USER_AT_HOST);
        g.s("\nDate: ").n(near::TIMESTAMP, &w.rfc2822());
        g.s("\nSubject: Cron <deploy@build-01> /usr/local/bin/backup.sh\n\n");
        g.s("backup: dumped 1432 tables in 84.2s\nbackup: archive sha256 ");
        miss(g, near::SHA256);
        g.s("\nbackup: uploaded as ");
        miss(g, near::UUID);
        g.s(".tar.zst\n");
        return;
    }
    g.s("From: ").s(&p.full());
    if g.pos(85) {
        let e = values::email(g.rng, &p);
        g.s(" <").v(EMAIL, &e).s(">");
    }
    g.s("\nTo: ");
    if g.pos(70) {
        let e = values::role_email(g.rng);
        g.v(EMAIL, &e);
    } else {
        g.one_of(&["Billing Team", "Support", "Accounts Payable"]);
    }
    if g.pos(25) {
        g.s("\nCc: ");
        put(g, EMAIL);
    }
    g.s("\nDate: ")
        .n(near::TIMESTAMP, &w.rfc2822())
        .s("\nSubject: ");
    g.one_of(&["Re: ", "Fwd: ", ""]);
    match g.rng.below(3) {
        0 => {
            let inv = format!("INV-{}-{:05}", w.y, g.rng.below(100_000));
            g.s("Invoice ").s(&inv);
        }
        1 => {
            g.s("Updated payment details");
        }
        _ => {
            g.s("Your order ");
            miss(g, near::LUHN_FAIL);
        }
    }
    g.s("\n\n").one_of(&["Hello,\n", "Dear team,\n", "Hi,\n"]);
    let mut used = Vec::new();
    if g.positive {
        let n = g.rng.range(2, 3);
        for k in g.pick_kinds(&[CREDIT_CARD, IBAN, PHONE, SSN, EMAIL, IP_ADDRESS], n) {
            pii_sentence(g, k);
        }
    } else {
        filler_sentence(g, &mut used);
    }
    if g.chance(50) {
        filler_sentence(g, &mut used);
    }
    g.s("\n\nBest regards,\n").s(p.first).s("\n");
    if g.pos(50) {
        g.one_of(&["Mobile: ", "Tel. ", "Phone: ", "M: "]);
        put(g, PHONE);
        g.s("\n");
    }
    let company = values::company(g.rng);
    g.s(company).s("\n");
}

/// One chat message carrying a secret or personal value of `kind`.
fn chat_secret(g: &mut Gen<'_>, kind: &'static str) {
    match kind {
        SLACK_TOKEN => say(
            g,
            "rotating the bot token, old one was ",
            SLACK_TOKEN,
            " (already revoked)",
        ),
        GITHUB_TOKEN => say(
            g,
            "use my token for now: ",
            GITHUB_TOKEN,
            " — will rotate tomorrow",
        ),
        STRIPE_KEY => say(g, "prod stripe key is ", STRIPE_KEY, ", don't commit it"),
        GOOGLE_API_KEY => say(g, "maps key for the demo: ", GOOGLE_API_KEY, ""),
        AWS_ACCESS_KEY_ID => {
            say(
                g,
                "which user owns ",
                AWS_ACCESS_KEY_ID,
                "? it shows up in CloudTrail",
            );
        }
        AWS_SECRET_ACCESS_KEY => {
            let id = values::aws_key_id(g.rng);
            let secret = values::aws_secret(g.rng);
            g.s("temp creds: aws_access_key_id=")
                .v(AWS_ACCESS_KEY_ID, &id);
            g.s(" aws_secret_access_key=")
                .v(AWS_SECRET_ACCESS_KEY, &secret);
        }
        JWT => say(g, "here's a token that reproduces it: ", JWT, ""),
        BEARER_TOKEN => say(
            g,
            "curl works with `Authorization: Bearer ",
            BEARER_TOKEN,
            "` but not without",
        ),
        PASSWORD => {
            let pw = values::password(g.rng, false);
            let (before, after) = *g.rng.pick(&[
                ("staging creds — user: admin, password: ", ""),
                ("the db password: ", " (rotating it tonight)"),
                (
                    "in the runbook it says `DB_PASSWORD=",
                    "`, is that still valid?",
                ),
                ("ftp login is ops / pwd=", ""),
            ]);
            g.s(before).v(PASSWORD, &pw).s(after);
        }
        PRIVATE_KEY => {
            g.s("oops, pasted the deploy key here:\n```\n");
            let k = values::private_key(g.rng, Pem::Plain);
            g.v(PRIVATE_KEY, &k).s("\n```");
        }
        SSN => say(g, "HR needs the SSN for the new hire: ", SSN, ""),
        _ => pii_sentence(g, kind),
    }
}

/// A harmless chat message, often with a near-miss.
fn chat_filler(g: &mut Gen<'_>) {
    match g.rng.below(12) {
        0 => say_near(g, "deployed ", near::VERSION, " to staging"),
        1 => say_near(g, "can you review? commit ", near::GIT_SHA, ""),
        2 => say_near(g, "", near::MENTION, " can you take a look?"),
        3 => {
            g.s("reminder: live keys start with ")
                .n(near::PREFIX_IN_PROSE, "sk_live_");
            g.s(", test keys with ")
                .n(near::PREFIX_IN_PROSE, "sk_")
                .s("test — never paste them here");
        }
        4 => say_near(
            g,
            "the token in the screenshot is just ",
            near::SHORT_TOKEN,
            "…, truncated, no worries",
        ),
        5 => say_near(g, "standup moved to ", near::TIMESTAMP, ""),
        6 => say_near(g, "incident ", near::UUID, " resolved"),
        7 => say_near(g, "bumped ", near::PACKAGE_AT_VERSION, " in package.json"),
        8 => say_near(
            g,
            "the printer's MAC is ",
            near::MAC,
            ", can someone reserve an IP?",
        ),
        9 => {
            g.s("set ")
                .n(near::TOKEN_SETTING, "max_tokens=4096")
                .s(" and ");
            g.n(near::TOKEN_SETTING, "token_count: 12")
                .s(" in the eval config");
        }
        10 => say_near(
            g,
            "someone typed ",
            near::INVALID_IPV4,
            " in the allow-list, that's why it failed",
        ),
        _ => say_near(
            g,
            "GitHub tokens look like ",
            near::PREFIX_IN_PROSE,
            "… followed by 36 characters",
        ),
    }
}

/// A chat transcript.
pub fn chat(g: &mut Gen<'_>) {
    let w = values::when(g.rng);
    let channel = g.rng.pick_str(&[
        "#ops",
        "#payments",
        "#general",
        "#support-escalations",
        "#deploys",
    ]);
    g.s(channel).s(" — ").n(near::DATE, &w.date()).s("\n");
    let messages = g.rng.range(3, 6);
    let secret_at = if g.positive {
        g.rng.below(messages)
    } else {
        usize::MAX
    };
    let second_at = if g.positive {
        g.rng.below(messages)
    } else {
        usize::MAX
    };
    let kinds = [
        SLACK_TOKEN,
        GITHUB_TOKEN,
        STRIPE_KEY,
        GOOGLE_API_KEY,
        AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY,
        JWT,
        BEARER_TOKEN,
        PASSWORD,
        PRIVATE_KEY,
        SSN,
        PHONE,
        EMAIL,
        CREDIT_CARD,
        IBAN,
        IP_ADDRESS,
    ];
    let mut clock_s = w.hh * 3600 + w.mm * 60 + w.ss;
    for i in 0..messages {
        let p = values::person(g.rng);
        let who = values::username(g.rng, &p);
        clock_s = (clock_s + g.rng.range(5, 240)) % 86_400;
        let clock = format!(
            "{:02}:{:02}:{:02}",
            clock_s / 3600,
            clock_s / 60 % 60,
            clock_s % 60
        );
        g.s("[").n(near::TIMESTAMP, &clock).s("] ").s(&who).s(": ");
        if i == secret_at || i == second_at {
            let k = g.pick_kind(&kinds);
            chat_secret(g, k);
        } else if g.pos(40) {
            let k = g.pick_kind(&[PHONE, EMAIL, IP_ADDRESS]);
            pii_sentence(g, k);
        } else {
            chat_filler(g);
        }
        g.s("\n");
    }
}

/// An invoice or order confirmation.
pub fn invoice(g: &mut Gen<'_>) {
    let p = values::person(g.rng);
    let w = values::when(g.rng);
    let inv = format!("INV-{}-{:05}", w.y, g.rng.below(100_000));
    let date = w.human_date(g.rng);
    let company = values::company(g.rng);
    g.s("INVOICE ")
        .s(&inv)
        .s("        Date: ")
        .n(near::DATE, &date)
        .s("\n");
    g.s(company).s("\n\nBill to: ").s(&p.full()).s("\n");
    let (street, city) = *g.rng.pick(&[
        ("742 Evergreen Terrace", "Springfield, OR "),
        ("1600 Amphitheatre Pkwy", "Mountain View, CA "),
        ("55 Water St", "New York, NY "),
        ("12 Market St", "San Francisco, CA "),
    ]);
    g.s("  ").s(street).s(", ").s(city);
    miss(g, near::ZIP);
    g.s("\n");
    if g.pos(75) {
        g.s("  E-mail: ");
        put(g, EMAIL);
        g.s("\n");
    }
    if g.pos(65) {
        g.s("  Tel: ");
        put(g, PHONE);
        g.s("\n");
    }
    g.s("\nOrder no. ");
    if g.chance(50) {
        miss(g, near::LUHN_FAIL);
    } else {
        miss(g, near::NON_CARD_PREFIX);
    }
    g.s("\n");
    for _ in 0..g.rng.range(1, 3) {
        let qty = g.rng.range(1, 4);
        let cents = g.rng.range(199, 19999);
        g.s("  ");
        miss(g, near::PRODUCT_CODE);
        g.s(&format!(
            "  {qty} x {}.{:02} EUR\n",
            cents / 100,
            cents % 100
        ));
    }
    g.s("\nPayment: ");
    if g.pos(70) {
        let digits = values::card_digits(g.rng);
        let card = values::format_card(g.rng, &digits);
        g.s(values::brand(&digits)).s(" ").v(CREDIT_CARD, &card);
    } else {
        let m = values::masked_card(g.rng);
        g.s("card ").n(near::MASKED, &m);
    }
    g.s("\n");
    if g.pos(65) {
        g.s("Bank transfer to: ");
        put(g, IBAN);
        g.s(" (ref. ").s(&inv).s(")\n");
    } else if g.chance(40) {
        g.s("Old account (closed, check digits wrong): ");
        miss(g, near::BAD_IBAN);
        g.s("\n");
    } else if g.chance(40) {
        g.s("Tracking: ");
        miss(g, near::NON_CARD_PREFIX);
        g.s("\n");
    }
}

/// An HR record.
pub fn hr_record(g: &mut Gen<'_>) {
    let p = values::person(g.rng);
    let manager = values::person(g.rng);
    g.one_of(&[
        "EMPLOYEE RECORD — CONFIDENTIAL\n",
        "Personnel file\n",
        "New hire form\n",
    ]);
    g.s("Name: ").s(&p.full()).s("    Employee ID: ");
    miss(g, near::NINE_DIGIT_ID);
    let dob = values::when(g.rng);
    let year = dob.y - g.rng.range(22, 60);
    g.s("\nDate of birth: ")
        .n(near::DATE, &format!("{year}-{:02}-{:02}", dob.m, dob.d));
    g.s("\n");
    if g.pos(85) {
        if g.chance(25) {
            let v = values::ssn(g.rng, "");
            g.s("SSN: ").v(SSN, &v);
        } else {
            let sep = if g.chance(75) { "-" } else { " " };
            let v = values::ssn(g.rng, sep);
            g.one_of(&["SSN: ", "Social Security Number: ", "SSN/TIN: "])
                .v(SSN, &v);
        }
    } else if g.chance(50) {
        let last = g.rng.digits(4);
        g.s("SSN: ").n(near::MASKED, &format!("***-**-{last}"));
    } else {
        g.s("SSN: ");
        miss(g, near::INVALID_SSN);
        g.s(" (invalid, ask again)");
    }
    g.s("\nHome: ").one_of(&[
        "18 Oak Ave, Portland, OR ",
        "4 Elm St, Austin, TX ",
        "90 Pine Rd, Denver, CO ",
    ]);
    miss(g, near::ZIP);
    g.s("\n");
    if g.pos(80) {
        g.s("Phone: ");
        put(g, PHONE);
        g.s("\n");
    }
    if g.pos(75) {
        let e = values::email(g.rng, &p);
        g.s("Personal e-mail: ").v(EMAIL, &e).s("\n");
    }
    if g.pos(75) {
        g.s("Payroll account: ");
        put(g, IBAN);
        g.s("\n");
    } else if g.chance(30) {
        g.s("Payroll account: ");
        miss(g, near::BAD_IBAN);
        g.s(" (rejected by the bank)\n");
    }
    let handle = values::username(g.rng, &manager);
    g.s("Manager: ")
        .s(&manager.full())
        .s(" (")
        .n(near::MENTION, &format!("@{handle}"))
        .s(")\n");
    if g.chance(40) {
        g.s("Laptop: ");
        miss(g, near::PRODUCT_CODE);
        g.s(", MAC ");
        miss(g, near::MAC);
        g.s("\n");
    }
    let _ = value;
}
