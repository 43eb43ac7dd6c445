//! Evasion templates: realistic documents whose values are disguised, one
//! technique per template, next to ordinary values.

use super::doc::{Ctx, Template};
use super::technique as t;
use super::values as v;

/// The templates, each with the technique it exercises.
pub const TEMPLATES: &[(&str, Template)] = &[
    (t::CONFUSABLE_KEYWORD, confusable_http),
    (t::CONFUSABLE_KEYWORD, confusable_config),
    (t::CONFUSABLE_KEYWORD, confusable_ticket),
    (t::LINE_WRAP, wrap_kubectl),
    (t::LINE_WRAP, wrap_ticket),
    (t::LINE_WRAP, wrap_terminal),
    (t::QUOTE_WRAP, quote_mail),
    (t::QUOTE_WRAP, quote_chat),
    (t::JSON_ESCAPE, json_api),
    (t::JSON_ESCAPE, json_log),
    (t::PERCENT_ENCODING, percent_access_log),
    (t::PERCENT_ENCODING, percent_form),
    (t::PERCENT_ENCODING, percent_userinfo),
    (t::HTML_ENTITY, html_page),
    (t::HTML_ENTITY, html_mail),
    (t::NO_SEPARATORS, nosep_form),
    (t::NO_SEPARATORS, nosep_json),
    (t::NO_SEPARATORS, nosep_note),
    (t::KEY_ABBREVIATION, pgpass),
    (t::KEY_ABBREVIATION, abbrev_config),
    (t::PEM_VARIANT, pem_k8s),
    (t::PEM_VARIANT, pem_vault),
    (t::PEM_VARIANT, pem_file),
    (t::PEM_VARIANT, pem_quoted_mail),
    (t::INVISIBLE_OR_WIDTH, invisible_chat),
    (t::INVISIBLE_OR_WIDTH, width_form),
];

fn confusable_http(c: &mut Ctx) {
    c.fill("«w:method» «w:path» HTTP/1.1\nHost: «w:host»\n");
    match c.rng.below(3) {
        0 => c.fill("«K:Authorization»: «K:Bearer» «e:confusable_keyword:bearer»\n"),
        1 => c.fill("Authorization: «K:Bearer» «e:confusable_keyword:bearer»\n"),
        _ => c.fill("authorization: «K:bearer» «e:confusable_keyword:bearer»\n"),
    }
    c.fill("X-Forwarded-For: «ip»\nX-Request-Id: «n:uuid»\nContent-Type: application/x-www-form-urlencoded\n\n«K:client_secret»=«e:confusable_keyword:secret»&client_id=«n:uuid»&grant_type=client_credentials\n");
}

fn confusable_config(c: &mut Ctx) {
    c.fill("«o:# settings.ini|# config.yaml|# .env.local|; app.cfg»\n");
    c.some_lines(
        &[
            "«K:password»: «e:confusable_keyword:password»\n",
            "«K:passwd»=«e:confusable_keyword:password»\n",
            "DB_«K:PASSWORD»=«e:confusable_keyword:password»\n",
            "«K:client_secret» = \"«e:confusable_keyword:secret»\"\n",
            "«K:api_key»: «e:confusable_keyword:secret»\n",
            "«K:aws_secret_access_key» = «e:confusable_keyword:aws_secret»\n",
            "«K:secret»=«e:confusable_keyword:secret»\n",
            "host: «w:host»\nport: «w:port»\n",
            "admin_email: «email»\n",
            "build: «n:sha7»\n",
        ],
        4,
    );
}

fn confusable_ticket(c: &mut Ctx) {
    c.fill("«o:Case|Ticket|Fall» #«w:big»\n«w:hi», the «o:applicant|Antragsteller|client» «w:full» sent the form again.\n");
    c.fill("«K:SSN»: «e:confusable_keyword:ssn_plain»\n");
    c.some_lines(
        &[
            "«K:SSN» «e:confusable_keyword:ssn_plain» (corrected)\n",
            "Portal «K:password»: «e:confusable_keyword:password»\n",
            "E-mail: «email»\n",
            "Ref: «n:order»\n",
            "Old record: «n:invalid_ssn»\n",
        ],
        2,
    );
    c.fill("«w:bye»\n");
}

fn wrap_kubectl(c: &mut Ctx) {
    c.fill("$ kubectl logs deploy/«w:svc» --tail=«w:num» | less -S\n");
    let n = c.rng.range(2, 4);
    for _ in 0..n {
        c.fill("«w:iso» «w:level» «w:svc» ");
        match c.rng.below(8) {
            0 => c.fill("charge declined card=«e:line_wrap:card» order=«n:order»\n"),
            1 => c.fill("upstream call failed Authorization=Bearer «e:line_wrap:jwt»\n"),
            2 => c.fill("using OPENAI_API_KEY=«e:line_wrap:openai»\n"),
            3 => c.fill("payout to iban=«e:line_wrap:iban» ok\n"),
            4 => c.fill("aws_secret_access_key=«e:line_wrap:aws_secret» loaded from env\n"),
            5 => c.fill("x-api-key: «e:line_wrap:anthropic»\n"),
            6 => c.fill("notify user=«e:line_wrap:email» via smtp\n"),
            _ => c.fill("client ip «ip» request «n:reqid»\n"),
        }
    }
}

fn wrap_ticket(c: &mut Ctx) {
    c.fill("«o:Subject|Betreff|Objet»: «o:account update|Kontoänderung|changement de coordonnées»\n\n«w:hi»,\nplease update the record for «w:full»:\n");
    c.some_lines(
        &[
            "  new phone number: «e:line_wrap:phone»\n",
            "  SSN (for the W-2): «e:line_wrap:ssn»\n",
            "  IBAN for the payout: «e:line_wrap:iban»\n",
            "  contact address: «e:line_wrap:email»\n",
            "  card for the deposit: «e:line_wrap:card»\n",
            "  alternative e-mail: «email»\n",
            "  ticket «n:wrapped»\n",
        ],
        3,
    );
    c.fill("«w:bye», «w:first»\n");
}

fn wrap_terminal(c: &mut Ctx) {
    c.fill("«w:user»@«o:devbox|laptop»:~$ env | grep -i -E 'token|key'\n");
    c.some_lines(
        &[
            "GITHUB_TOKEN=«e:line_wrap:github»\n",
            "GITLAB_TOKEN=«e:line_wrap:gitlab»\n",
            "STRIPE_SECRET_KEY=«e:line_wrap:stripe»\n",
            "ANTHROPIC_API_KEY=«e:line_wrap:anthropic»\n",
            "AUTH_HEADER=Bearer «e:line_wrap:bearer»\n",
            "GOOGLE_API_KEY=«google»\n",
            "AWS_ACCESS_KEY_ID=«akid»\n",
            "SLACK_BOT_TOKEN=«e:line_wrap:slack»\n",
            "PYPI_TOKEN=«e:line_wrap:pypi»\n",
            "SLACK_APP_TOKEN=«slack»\n",
            "MAX_TOKENS=4096\n",
            "STRIPE_PUBLISHABLE_KEY=«n:pk»\n",
        ],
        3,
    );
}

fn quote_mail(c: &mut Ctx) {
    c.quote = *c.rng.pick(&["> ", ">> ", "> > "]);
    let q = c.quote;
    c.fill("From: «w:full» <«email»>\nSubject: Re: «o:Zahlungsdaten|payment details|coordonnées bancaires»\n\n«o:Thanks, received.|Danke, ist angekommen.|Merci, bien reçu.»\n\n«o:On|Am|Le» «w:date», «w:full» wrote:\n");
    let lines = [
        "«o:my card|meine Karte|ma carte» is «e:quote_wrap:card» «o:exp 09/27|gültig bis 11/26»\n",
        "IBAN: «e:quote_wrap:iban»\n",
        "«o:call me at|ruf mich an unter|appelle-moi au» «e:quote_wrap:phone»\n",
        "SSN «e:quote_wrap:ssn» for the form\n",
        "«o:write to|schreib an» «e:quote_wrap:email» «o:instead|bitte»\n",
        "order «n:order» «o:arrived|kam an»\n",
    ];
    let mut k = 0;
    for l in lines {
        if c.rng.chance(55) || (k < 2 && l.contains("e:")) {
            c.t(q);
            c.fill(l);
            if l.contains("e:") {
                k += 1;
            }
        }
    }
}

fn quote_chat(c: &mut Ctx) {
    c.quote = *c.rng.pick(&["> ", ">> "]);
    let q = c.quote;
    c.fill("«w:first» «w:clock»\n«o:replying to|en réponse à|Antwort auf» «n:mention»:\n");
    let lines = [
        "token is «e:quote_wrap:github» fyi\n",
        "use Authorization: Bearer «e:quote_wrap:bearer»\n",
        "export OPENAI_API_KEY=«e:quote_wrap:openai»\n",
        "AWS_SECRET_ACCESS_KEY=«e:quote_wrap:aws_secret»\n",
        "jwt for staging «e:quote_wrap:jwt»\n",
        "PRIVATE-TOKEN: «e:quote_wrap:gitlab»\n",
        "SLACK_BOT_TOKEN=«e:quote_wrap:slack»\n",
        "TWINE_PASSWORD=«e:quote_wrap:pypi»\n",
    ];
    let picks: Vec<usize> = (0..lines.len()).filter(|_| c.rng.chance(45)).collect();
    let picks = if picks.len() < 2 {
        vec![c.rng.below(3), 3 + c.rng.below(3)]
    } else {
        picks
    };
    for i in picks {
        c.t(q);
        c.fill(lines[i]);
    }
    c.fill("«w:first» «w:clock»\n«o:rotated, thanks|done, alles neu|c'est fait» (host «ip»)\n");
}

fn json_api(c: &mut Ctx) {
    c.fill("HTTP/1.1 200 OK\nContent-Type: application/json\nX-Request-Id: «n:uuid»\n\n{\"data\":{\"id\":«w:big»,");
    c.some_lines(
        &[
            "\"email\":\"«e:json_escape:email»\",",
            "\"phone\":\"«e:json_escape:phone»\",",
            "\"card_number\":\"«e:json_escape:card»\",",
            "\"iban\":\"«e:json_escape:iban»\",",
            "\"backup_email\":\"«email»\",",
            "\"website\":\"https:\\/\\/«w:host»\\/profile\",",
            "\"ssn\":\"«e:json_escape:ssn»\",",
        ],
        3,
    );
    c.fill("\"updated\":\"«w:iso»\"}}\n");
}

fn json_log(c: &mut Ctx) {
    let n = c.rng.range(2, 3);
    for _ in 0..n {
        c.fill("{\"ts\":\"«w:iso»\",\"level\":\"«w:lvl»\",");
        match c.rng.below(6) {
            0 => c.fill("\"msg\":\"sts\",\"Credentials\":{\"AccessKeyId\":\"«akid»\",\"SecretAccessKey\":\"«e:json_escape:aws_secret_slash»\"}}\n"),
            1 => c.fill("\"msg\":\"signup\",\"user\":\"«e:json_escape:email»\",\"ip\":\"«ip»\"}\n"),
            2 => c.fill("\"msg\":\"login\",\"password\":\"«e:json_escape:password_special»\",\"user\":\"«w:user»\"}\n"),
            3 => c.fill("\"msg\":\"sms sent\",\"to\":\"«e:json_escape:phone»\",\"sid\":\"«n:reqid»\"}\n"),
            4 => c.fill("\"msg\":\"auth\",\"api_key\":\"«e:json_escape:anthropic»\"}\n"),
            _ => c.fill("\"msg\":\"payout\",\"iban\":\"«e:json_escape:iban»\",\"ref\":\"«n:order»\"}\n"),
        }
    }
}

/// Regenerates `spec` until `tech` changes it (some values need no escape).
fn evade_changed(c: &mut Ctx, tech: &'static str, spec: &str) {
    c.evade(tech, spec);
}

fn percent_access_log(c: &mut Ctx) {
    let n = c.rng.range(2, 4);
    for _ in 0..n {
        c.fill("«ip» - - [«w:day»/«w:month»/2024:«w:clock» +0100] \"GET ");
        match c.rng.below(5) {
            0 => {
                c.t("/newsletter/subscribe?email=");
                evade_changed(c, t::PERCENT_ENCODING, "email");
                c.fill("&lang=«o:de|fr|es»");
            }
            1 => {
                c.t("/api/lookup?phone=");
                evade_changed(c, t::PERCENT_ENCODING, "phone");
            }
            2 => {
                c.t("/verify?ssn=");
                evade_changed(c, t::PERCENT_ENCODING, "ssn");
            }
            3 => {
                c.t("/unsubscribe?u=");
                evade_changed(c, t::PERCENT_ENCODING, "email");
                c.fill("&«n:pct_text»");
            }
            _ => c.fill("/search?«n:pct_text»"),
        }
        c.fill(" HTTP/1.1\" «w:status» «w:big» \"-\" \"«w:ua»\"\n");
    }
}

fn percent_form(c: &mut Ctx) {
    c.fill("POST «o:/checkout|/api/payment|/register» HTTP/1.1\nHost: «w:host»\nContent-Type: application/x-www-form-urlencoded\n\n");
    let mut parts: Vec<(&str, &str)> = vec![
        ("card_number", "card"),
        ("email", "email"),
        ("password", "password_special"),
        ("iban", "iban"),
        ("phone", "phone"),
        ("aws_secret_access_key", "aws_secret_slash"),
    ];
    let keep = c.rng.range(2, 4);
    while parts.len() > keep {
        let i = c.rng.below(parts.len());
        parts.remove(i);
    }
    c.fill("name=«o:Jane+Doe|Jos%C3%A9+Garc%C3%ADa|M%C3%BCller»");
    for (key, spec) in parts {
        c.t("&");
        c.t(key);
        c.t("=");
        evade_changed(c, t::PERCENT_ENCODING, spec);
    }
    c.fill("&csrf=«n:uuid»\n");
}

fn percent_userinfo(c: &mut Ctx) {
    c.fill("# «o:connection strings|Verbindungen|connexions»\n");
    let n = c.rng.range(2, 3);
    for _ in 0..n {
        match c.rng.below(3) {
            0 => {
                c.fill("DATABASE_URL=postgresql://«w:user»:");
                evade_changed(c, t::PERCENT_ENCODING, "password_special");
                c.fill("@«w:host»:5432/«w:svc»\n");
            }
            1 => {
                c.fill("AMQP_URL=amqps://«w:svc»:");
                evade_changed(c, t::PERCENT_ENCODING, "password_special");
                c.fill("@«ipv4»:5671/%2F\n");
            }
            _ => {
                c.fill("SMTP_URL=smtps://");
                evade_changed(c, t::PERCENT_ENCODING, "email");
                c.t(":");
                evade_changed(c, t::PERCENT_ENCODING, "password_special");
                c.fill("@smtp.«o:gmail.com|office365.com»:465\n");
            }
        }
    }
    c.fill("REDIS_URL=redis://«w:host»:6379/0\n");
}

fn html_page(c: &mut Ctx) {
    c.fill(
        "<div class=\"«o:contact|impressum|footer»\">\n  <h2>«o:Kontakt|Contact|Contacto»</h2>\n",
    );
    c.some_lines(
        &[
            "  <p>E-Mail: <a href=\"mailto:«e:html_entity:email»\">«e:html_entity:email»</a></p>\n",
            "  <p>«o:Telefon|Tél.|Phone»: «e:html_entity:phone»</p>\n",
            "  <p>«o:Bankverbindung|IBAN»: «e:html_entity:iban»</p>\n",
            "  <p>«n:ent_text»</p>\n",
            "  <p>Fax: «phone»</p>\n",
        ],
        2,
    );
    c.t("</div>\n");
}

fn html_mail(c: &mut Ctx) {
    c.fill("<html><body>\n<p>«o:Dear|Liebe|Chère» «w:first»,</p>\n<p>«o:we have updated your details|wir haben Ihre Daten aktualisiert|vos coordonnées ont été mises à jour»:</p>\n<table>\n");
    c.some_lines(
        &[
            "<tr><td>Card</td><td>«e:html_entity:card»</td></tr>\n",
            "<tr><td>SSN</td><td>«e:html_entity:ssn»</td></tr>\n",
            "<tr><td>E-mail</td><td>«e:html_entity:email»</td></tr>\n",
            "<tr><td>«o:Mobile|Handy»</td><td>«e:html_entity:phone»</td></tr>\n",
            "<tr><td>«o:Order|Bestellung»</td><td>«n:order»</td></tr>\n",
            "<tr><td>«o:Note|Hinweis»</td><td>«n:ent_text»</td></tr>\n",
        ],
        3,
    );
    c.fill("</table>\n<p>«email»</p>\n</body></html>\n");
}

fn nosep_form(c: &mut Ctx) {
    c.fill("«o:POST /api/kyc HTTP/1.1|# export.properties|[applicant]»\n");
    c.some_lines(
        &[
            "«o:ssn|SSN|social_security_number»=«e:no_separators:ssn_plain»\n",
            "«o:phone_number|phone|tel»=«e:no_separators:phone_plain»\n",
            "card_number=«e:no_separators:card_plain»\n",
            "iban: «e:no_separators:iban_plain»\n",
            "email=«email»\n",
            "employee_id=«w:big»\n",
            "order_no=«n:order»\n",
        ],
        3,
    );
}

fn nosep_json(c: &mut Ctx) {
    c.fill("{\n  \"applicant\": \"«w:full»\",\n");
    c.some_lines(
        &[
            "  \"mobile\": \"«e:no_separators:phone_plain»\",\n",
            "  \"ssn\": \"«e:no_separators:ssn_plain»\",\n",
            "  \"card_number\": \"«e:no_separators:card_plain»\",\n",
            "  \"iban\": \"«e:no_separators:iban_plain»\",\n",
            "  \"tracking\": \"«n:order»\",\n",
            "  \"phone_display\": \"«phone»\",\n",
        ],
        3,
    );
    c.fill("  \"submitted\": \"«w:iso»\"\n}\n");
}

fn nosep_note(c: &mut Ctx) {
    c.fill("«o:Notiz|Note|Nota» «w:date»: «w:full»\n");
    c.some_lines(
        &[
            "Telefon: «e:no_separators:phone_plain»\n",
            "SSN «e:no_separators:ssn_plain»\n",
            "<a href=\"tel:«e:no_separators:phone_plain»\">«o:anrufen|call|appeler»</a>\n",
            "ssn: «e:no_separators:ssn_plain»\n",
            "IBAN: «e:no_separators:iban_plain»\n",
            "Kundennr. «w:big», Auftrag «n:order»\n",
            "Mail: «email»\n",
        ],
        3,
    );
}

fn pgpass(c: &mut Ctx) {
    c.fill("$ cat ~/.pgpass\n# hostname:port:database:username:password\n");
    let n = c.rng.range(2, 4);
    for _ in 0..n {
        c.fill("«w:host»:«o:5432|6432|*»:«o:*|shop|billing|crm»:«o:app|postgres|report»:«e:key_abbreviation:password»\n");
    }
    c.fill("$ ls -l ~/.pgpass\n-rw------- 1 «w:user» staff «w:num» «w:month» «w:day» «w:clock» .pgpass\n");
}

fn abbrev_config(c: &mut Ctx) {
    c.fill("«o:# legacy config|# .env|[ftp]|# deploy.conf»\n");
    c.some_lines(
        &[
            "pw=«e:key_abbreviation:password»\n",
            "pwd: «e:key_abbreviation:password»\n",
            "passwd = «e:key_abbreviation:password»\n",
            "pass: «e:key_abbreviation:password»\n",
            "PASS=«e:key_abbreviation:password»\n",
            "DB_PW=«Q»«e:key_abbreviation:password»«Q»\n",
            "smtp_pass = «Q»«e:key_abbreviation:password»«Q»\n",
            "ftp_pass=«e:key_abbreviation:password»\n",
            "\"user_pass\": \"«e:key_abbreviation:password»\"\n",
            "ftp_host=«ip»\n",
            "# «n:pass_prose»\n",
            "user=«w:user»\n",
        ],
        4,
    );
}

fn pem_k8s(c: &mut Ctx) {
    c.indent = "    ".to_owned();
    c.fill("apiVersion: v1\nkind: Secret\nmetadata:\n  name: «w:svc»-tls\ntype: kubernetes.io/tls\nstringData:\n");
    if c.rng.chance(50) {
        let cert = v::public_pem_lines(&mut c.rng).join("\n    ");
        c.t("  tls.crt: |\n    ");
        c.n(super::near::PUBLIC_KEY, &cert);
        c.t("\n");
    }
    c.fill("  tls.key: |\n    «e:pem_variant:pem_yaml»\n");
    if c.rng.chance(50) {
        c.fill("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: «w:svc»-client-tls\nstringData:\n  client.key: |\n    «e:pem_variant:pem_yaml»\n");
    }
    c.some_lines(&["  admin-email: «email»\n", "  password: «password»\n"], 0);
}

fn pem_vault(c: &mut Ctx) {
    c.fill("$ vault write -format=json pki/issue/«w:svc» common_name=«w:host»\n{\n  \"request_id\": \"«n:uuid»\",\n  \"data\": {\n    \"serial_number\": \"«w:hex8»\",\n    \"private_key\": \"«e:pem_variant:pem_json»\",\n    \"private_key_type\": \"«o:rsa|ec»\"\n  }\n}\n");
}

fn pem_file(c: &mut Ctx) {
    c.fill("$ cat «o:~/.ssh/id_ed25519|deploy_key|server.key|backup-signing.asc»\n«e:pem_variant:pem_alt»\n");
    if c.rng.chance(60) {
        c.fill("$ cat «o:old/id_ecdsa|ca.key|legacy.pem»\n«e:pem_variant:pem_alt»\n");
    }
    c.fill("$ ls -l\n-rw------- 1 «w:user» staff «w:num» «w:month» «w:day» «w:clock» key\n");
    if c.rng.chance(40) {
        c.fill("$ git config user.email\n«email»\n");
    }
}

fn pem_quoted_mail(c: &mut Ctx) {
    c.quote = *c.rng.pick(&["> ", ">> "]);
    let q = c.quote;
    c.fill("From: «w:full» <«email»>\nSubject: Re: «o:server key|Schlüssel|clé du serveur»\n\n«o:Please never mail keys.|Bitte keine Schlüssel per Mail.|Merci de ne jamais envoyer de clés par mail.» Rotated.\n\n«o:On|Am» «w:date», «w:full» wrote:\n");
    c.t(q);
    c.fill("«o:here is the key for|hier der Schlüssel für» «w:host»:\n");
    c.t(q);
    c.fill("«e:pem_variant:pem_quoted»\n");
}

fn invisible_chat(c: &mut Ctx) {
    let n = c.rng.range(2, 4);
    for _ in 0..n {
        c.fill("[«w:clock»] «w:full»: ");
        match c.rng.below(10) {
            0 => c.fill("my mail is «e:invisible_or_width:email»\n"),
            1 => c.fill("card «e:invisible_or_width:card» pls charge\n"),
            2 => c.fill("GITHUB_TOKEN=«e:invisible_or_width:github»\n"),
            3 => c.fill("OPENAI_API_KEY=«e:invisible_or_width:openai»\n"),
            4 => c.fill("aws_secret_access_key = «e:invisible_or_width:aws_secret»\n"),
            5 => c.fill("npm token «e:invisible_or_width:npm»\n"),
            8 => c.fill("bot «e:invisible_or_width:slack»\n"),
            9 => c.fill("«o:maps key|google key» «e:invisible_or_width:google»\n"),
            6 => c.fill("call «e:invisible_or_width:phone»\n"),
            _ => c.fill("from «ip», see «n:reqid»\n"),
        }
    }
}

fn width_form(c: &mut Ctx) {
    c.fill("«o:お問い合わせフォーム|Formulaire|Formular» «w:date»\n");
    c.some_lines(
        &[
            "«o:カード番号|Card|Karte»: «e:invisible_or_width:card»\n",
            "«o:電話番号|Tel.|Telefon»: «e:invisible_or_width:phone»\n",
            "SSN: «e:invisible_or_width:ssn»\n",
            "IBAN: «e:invisible_or_width:iban»\n",
            "«o:メール|E-Mail»: «e:invisible_or_width:email»\n",
            "«o:注文番号|Bestellnr.»: «n:order»\n",
        ],
        3,
    );
}
