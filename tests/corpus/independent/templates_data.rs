//! Data templates: SQL dumps and psql output, CSV exports, HTML pages and
//! HTML e-mails, Markdown docs.

use super::doc::{Ctx, Template};

/// The templates of this family.
pub const TEMPLATES: &[Template] = &[
    sql_insert,
    psql_table,
    csv_export,
    html_contact,
    html_order_mail,
    markdown_doc,
    mysql_dump_users,
];

fn sql_insert(c: &mut Ctx) {
    c.fill("-- «o:pg_dump|mysqldump» «w:ver»\n-- Dumped «w:iso»\nINSERT INTO «o:customers|kunden|clients» (id, name, email, phone, iban, created_at) VALUES\n");
    let n = c.rng.range(2, 4);
    for i in 0..n {
        c.fill("  («w:big», '«w:full»', '«email»', '«phone»', '«iban»', '«w:date»')");
        c.t(if i + 1 < n { ",\n" } else { ";\n" });
    }
    c.fill("INSERT INTO orders (id, customer_id, tracking, amount) VALUES («w:big», «w:big», '«n:order»', «w:big».«w:num»);\n");
}

fn psql_table(c: &mut Ctx) {
    c.fill("«w:svc»=> SELECT id, email, ssn, card_last4 FROM «o:patients|employees|members» LIMIT 3;\n id  |           email            |     ssn     | card_last4\n-----+----------------------------+-------------+------------\n");
    let n = c.rng.range(2, 3);
    for _ in 0..n {
        c.fill(" «w:big» | «email» | «ssn» | «w:big»\n");
    }
    c.fill("(«o:2|3» rows)\n\n«w:svc»=> \\conninfo\nYou are connected to database \"«w:svc»\" as user \"postgres\" on host \"«ip»\" at port \"5432\".\n");
}

fn csv_export(c: &mut Ctx) {
    c.fill("«o:employee_id,name,email,phone,start_date|id;nom;courriel;téléphone;date|nr,name,e-mail,telefon,eintritt»\n");
    let sep = if c.text.contains(';') { ";" } else { "," };
    let n = c.rng.range(3, 6);
    for _ in 0..n {
        c.fill("«w:big»");
        c.t(sep);
        c.fill("«w:full»");
        c.t(sep);
        c.fill("«email»");
        c.t(sep);
        if c.rng.chance(70) {
            c.fill("«phone»");
        } else {
            c.fill("«n:product»");
        }
        c.t(sep);
        c.fill("«w:date»\n");
    }
}

fn html_contact(c: &mut Ctx) {
    c.fill("<!DOCTYPE html>\n<html lang=\"«o:de|fr|en|es»\">\n<head><title>«o:Kontakt|Contact|Contacto»</title></head>\n<body>\n<h1>«w:company»</h1>\n<p>«n:ent_text»</p>\n<ul>\n");
    c.some_lines(
        &[
            "  <li><a href=\"mailto:«email»\">«o:E-Mail|Courriel|Email»</a></li>\n",
            "  <li>Tel. «phone»</li>\n",
            "  <li>«o:Bankverbindung|RIB|Bank»: «iban»</li>\n",
            "  <li>USt-IdNr. «n:vat»</li>\n",
            "  <li><a href=\"/search?«n:pct_text»\">«o:Suche|Recherche»</a></li>\n",
            "  <li><img src=\"«n:b64img»\" alt=\"logo\"></li>\n",
        ],
        2,
    );
    c.fill("</ul>\n<footer>&copy; 2024 «w:company» · «n:version»</footer>\n</body>\n</html>\n");
}

fn html_order_mail(c: &mut Ctx) {
    c.fill("<html><body style=\"font-family:Arial\">\n<p>«o:Hallo|Bonjour|Hola|Hi» «w:first»,</p>\n<p>«o:vielen Dank für Ihre Bestellung|merci pour votre commande|thanks for your order» <b>#«n:order»</b>.</p>\n<table>\n");
    c.some_lines(
        &[
            "<tr><td>«o:Karte|Carte|Card»</td><td>«n:masked_card»</td></tr>\n",
            "<tr><td>E-Mail</td><td>«email»</td></tr>\n",
            "<tr><td>«o:Telefon|Téléphone|Phone»</td><td>«phone»</td></tr>\n",
            "<tr><td>«o:Sendungsnummer|Suivi|Tracking»</td><td>«n:tracking»</td></tr>\n",
            "<tr><td>Total</td><td>«w:big»,«w:num»&nbsp;&euro;</td></tr>\n",
        ],
        2,
    );
    c.fill("</table>\n<p style=\"color:#888\">«n:ent_text»</p>\n</body></html>\n");
}

fn markdown_doc(c: &mut Ctx) {
    c.fill("## «o:Setup|Installation|Einrichtung»\n\n1. Copy `.env.example` to `.env`.\n2. Set `OPENAI_API_KEY` (ask «n:mention»).\n3. Run `npm i «n:pkg»`.\n\n```bash\n");
    c.some_lines(
        &[
            "export STRIPE_KEY=«stripe»   # test mode\n",
            "export NPM_TOKEN=«npm»\n",
            "export SLACK_WEBHOOK_URL=«n:slack_hook»\n",
            "export MAX_TOKENS=2048\n",
            "psql postgres://app:«password_url»@«ipv4»:5432/app\n",
        ],
        2,
    );
    c.fill("```\n\n> Don't commit real keys. Test card: «n:order» won't work.\n");
}

fn mysql_dump_users(c: &mut Ctx) {
    c.fill("mysql> SELECT user, host, plugin FROM mysql.user;\n+-----------+-----------------+-----------------------+\n| user      | host            | plugin                |\n+-----------+-----------------+-----------------------+\n| root      | localhost       | caching_sha2_password |\n| app       | «ipv4»  | mysql_native_password |\n+-----------+-----------------+-----------------------+\n2 rows in set (0.00 sec)\n\nmysql> CREATE USER 'report'@'%' IDENTIFIED BY '«password»';\nQuery OK, 0 rows affected (0.01 sec)\n");
}
