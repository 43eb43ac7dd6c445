//! Message templates: support tickets, e-mails with quoted replies, Slack
//! and Teams exports, GitHub issues, HR notes, invoices.

use super::doc::{Ctx, Template};

/// The templates of this family.
pub const TEMPLATES: &[Template] = &[
    ticket,
    email_reply,
    slack_export,
    teams_chat,
    github_issue,
    hr_note,
    invoice_mail,
    jira_comment,
    chat_paste,
];

fn ticket(c: &mut Ctx) {
    c.fill("«o:Ticket|Case|Incident|Anfrage» #«w:big» — «o:Refund request|Cannot log in|Rückbuchung|Problème de paiement|Cambio de datos»\nPriority: «o:P2|P3|high|normal»\nRequester: «w:full»\n\n");
    c.fill("«w:hi», ");
    c.some_lines(
        &[
            "customer called from «phone» about order «n:order». ",
            "Her e-mail on file is «email», please update it. ",
            "The charge was on card «card», not the one ending «n:masked_card». ",
            "Refund should go to IBAN «iban» (BIC «n:vat»). ",
            "Tracking number «n:tracking» shows delivered. ",
            "He gave SSN «ssn» for the identity check; the old record had «n:invalid_ssn». ",
            "Login attempts came from «ip». ",
            "The item was «n:product», «n:wrapped». ",
        ],
        2,
    );
    c.fill("\n\n«w:bye»,\n«w:first» («o:Support|Kundenservice|Service client|Soporte»)\n");
}

fn email_reply(c: &mut Ctx) {
    c.fill("From: «w:full» <«email»>\nTo: «email»\nDate: «o:Mon|Tue|Wed|Thu», «w:day» «w:month» 2024 «w:clock» +0200\nSubject: Re: «o:your invoice|Zugangsdaten|nouveau RIB|payment details|Vertrag»\nMessage-ID: «n:msgid»\n\n");
    c.fill("«w:hi» «w:first»,\n\n«o:thanks, all done.|Danke, erledigt.|Merci, c'est noté.|Gracias, ya está.» ");
    c.some_lines(
        &[
            "You can reach me on «phone». ",
            "The new account is «iban». ",
            "Order «n:order» shipped «w:date». ",
        ],
        1,
    );
    c.fill("\n\n«w:bye»\n«w:first»\n\nOn «w:date», «w:full» <«email»> wrote:\n");
    c.some_lines(
        &[
            "> Could you send me your bank details?\n",
            "> My IBAN is «iban», account holder «w:full».\n",
            "> Please call me back at «phone».\n",
            "> The card I used: «card».\n",
            ">> Original order «n:order» placed «w:date»\n",
            "> -- \n> «w:full» | «w:company» | «phone»\n",
        ],
        2,
    );
}

fn slack_export(c: &mut Ctx) {
    c.t("[\n");
    let n = c.rng.range(2, 4);
    for i in 0..n {
        c.fill("  {\"type\": \"message\", \"user\": \"U0«w:hex8»\", \"ts\": \"«n:unix».000«w:num»\", \"text\": \"");
        match c.rng.below(7) {
            0 => c.fill("here's the staging key: «stripe» (publishable is «n:pk»)"),
            1 => c.fill("can someone rotate «openai»? it was in the notebook"),
            2 => c.fill("«n:mention» deploy of «n:sha7» is done, «n:pass_prose»?"),
            3 => c.fill("bot token for the new app: «slack»"),
            4 => c.fill("customer wants a callback on «phone»"),
            5 => c.fill("PR build uses GITLAB_TOKEN=«gitlab» for the mirror"),
            _ => c.fill("see «n:reqid» in the logs, nothing sensitive"),
        }
        c.t(if i + 1 < n { "\"},\n" } else { "\"}\n" });
    }
    c.t("]\n");
}

fn teams_chat(c: &mut Ctx) {
    let n = c.rng.range(3, 5);
    for _ in 0..n {
        c.fill("[«w:date» «w:clock»] «w:full»: ");
        match c.rng.below(10) {
            0 => c.fill("«o:kannst du mal schauen|can you check|tu peux regarder» why login fails for «email»?\n"),
            1 => c.fill("the VPN gateway is «ip», «o:use|nimm» the usual creds\n"),
            2 => c.fill("new npm token: «npm»\n"),
            3 => c.fill("«n:mention» «n:pass_prose»\n"),
            4 => c.fill("AWS_ACCESS_KEY_ID=«akid» aws_secret_access_key=«aws_secret»\n"),
            7 => c.fill("«o:slack bot|der Bot-Token|le jeton du bot»: «slack»\n"),
            5 => c.fill("account id is «n:acct», role «n:arn»\n"),
            6 => c.fill("PR «n:wrapped»\n"),
            9 => c.fill("«o:the old token|der alte Token|l'ancien jeton» («n:short_token»…) «o:is revoked|ist widerrufen|est révoqué»\n"),
            _ => c.fill("ok 👍\n"),
        }
    }
}

fn github_issue(c: &mut Ctx) {
    c.fill("### Bug: «o:401 from API|timeout on upload|wrong currency» after upgrading to «n:version»\n\n**Steps to reproduce**\n\n```sh\n");
    c.some_lines(
        &[
            "curl -s -H \"Authorization: Bearer «bearer»\" https://«w:host»«w:path»\n",
            "export OPENAI_API_KEY=«openai»\n",
            "curl https://api.github.com/user -H \"Authorization: token «github»\"\n",
            "npm install «n:pkg»\n",
            "curl -H \"Authorization: Bearer «jwt»\" https://«w:host»/api/me\n",
            "curl -H \"Authorization: Bearer «slack»\" https://slack.com/api/auth.test\n",
            "twine upload -p «pypi» dist/*\n",
            "curl -u «w:user»:«password_url» https://«w:host»/api/health\n",
        ],
        2,
    );
    c.fill("```\n\n**Environment**: node «w:ver», commit «n:sha»\n\ncc «n:mention»\n");
}

fn hr_note(c: &mut Ctx) {
    c.fill("«o:Onboarding|Personalakte|Dossier salarié|New hire» — «w:full»\nStart date: «w:date»\nDepartment: «o:Finance|Engineering|Vertrieb|RH»\n");
    c.some_lines(
        &[
            "SSN: «ssn»\n",
            "Bank: «iban»\n",
            "Private e-mail: «email»\n",
            "Mobile: «phone»\n",
            "Employee no.: «w:big»\n",
            "Tax ID (company): «n:vat»\n",
            "Laptop MAC: «n:mac»\n",
        ],
        3,
    );
}

fn invoice_mail(c: &mut Ctx) {
    c.fill("«o:Rechnung|Facture|Factura|Invoice» Nr. «w:big»/2024\n«w:company», «w:city»\nUSt-IdNr.: «n:vat»\n\n«o:Bitte überweisen Sie den Betrag von|Merci de virer|Please transfer» «w:big»,«w:num» EUR «o:auf|sur|to» ");
    c.fill("«iban»\n«o:BIC|SWIFT»: «n:vat»\n«o:Verwendungszweck|Référence|Reference»: «n:order»\n\n«o:Fragen|Questions»: «email» / «phone»\n");
}

fn jira_comment(c: &mut Ctx) {
    c.fill("«w:full» added a comment - «w:date» «w:clock»\n");
    c.some_lines(
        &[
            "Reproduced with the customer's card «card» in sandbox; works with «n:masked_card».\n",
            "The SFTP account is ftp-«w:user», password «o:is|was set to» in vault, not here.\n",
            "Request id «n:reqid», trace «n:trace».\n",
            "Root cause: deploy key was committed rotated since:\n{noformat}\nAWS_SECRET_ACCESS_KEY=«aws_secret»\n{noformat}\n",
            "Affected tenant: «n:uuid»\n",
            "Still fails from «ip», see «n:wrapped».\n",
        ],
        2,
    );
}

fn chat_paste(c: &mut Ctx) {
    c.fill("«w:first» «w:clock»\n«o:here is my|voici mon|hier meine|aquí está mi» config, «o:what's wrong?|c'est quoi le souci ?|was ist falsch?»\n```\n");
    c.some_lines(
        &[
            "ANTHROPIC_API_KEY=«anthropic»\n",
            "OPENAI_API_KEY=«openai»\n",
            "PYPI_TOKEN=«pypi»\n",
            "GOOGLE_API_KEY=«google»\n",
            "model: claude-3-haiku\nmax_tokens: 512\n",
            "db_password: «password»\n",
            "STRIPE_PUBLISHABLE_KEY=«n:pk»\n",
            "GOOGLE_OAUTH_CLIENT_ID=«n:oauth»\n",
        ],
        2,
    );
    c.fill("```\n«w:first» «w:clock»\n«o:please rotate that key now|bitte sofort rotieren|on a un souci de sécurité là 🙃»\n");
}
