use super::*;
use palisade_guest::tidy_findings;

/// The findings of `text` as `(kind, covered text)`, checking on the way that
/// they are already in the shape the SDK sends.
fn found(text: &str) -> Vec<(String, String)> {
    let f = Secrets::mask(text);
    assert_eq!(tidy_findings(text, f.clone()), f, "findings are tidy");
    f.iter()
        .map(|f| (f.kind.clone(), text[f.start..f.end].to_owned()))
        .collect()
}

#[track_caller]
fn assert_finds(text: &str, expected: &[(&str, &str)]) {
    let got = found(text);
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(got, want, "in {text:?}");
}

#[track_caller]
fn assert_none(text: &str) {
    assert_finds(text, &[]);
}

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const GHP: &str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

// ---- aws_access_key_id ------------------------------------------------------

#[test]
fn aws_access_key_ids() {
    assert_finds(
        &format!("[default]\naws_access_key_id = {AKID}\n"),
        &[("aws_access_key_id", AKID)],
    );
    for prefix in [
        "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA",
    ] {
        let id = format!("{prefix}QWERTYUIOPASDF23");
        assert_finds(&format!("id {id}."), &[("aws_access_key_id", &id)]);
    }
    // At the very start and end of the text.
    assert_finds(AKID, &[("aws_access_key_id", AKID)]);
    assert_finds(
        &format!("\"AccessKeyId\": \"{AKID}\""),
        &[("aws_access_key_id", AKID)],
    );
}

#[test]
fn aws_access_key_id_near_misses() {
    assert_none("AKIAIOSFODNN7EXAMPL"); // 19
    assert_none("AKIAIOSFODNN7EXAMPLEX"); // 21
    assert_none("xAKIAIOSFODNN7EXAMPLE"); // glued before
    assert_none("AKIAIOSFODNN7EXAMPL1"); // 1 is not base32
    assert_none("AKIAiosfodnn7example");
    assert_none("AXIAIOSFODNN7EXAMPLE"); // unknown prefix
}

// ---- aws_secret_access_key --------------------------------------------------

#[test]
fn aws_secret_access_keys_with_context() {
    assert_finds(
        &format!("[default]\naws_access_key_id = {AKID}\naws_secret_access_key = {AWS_SECRET}\n"),
        &[
            ("aws_access_key_id", AKID),
            ("aws_secret_access_key", AWS_SECRET),
        ],
    );
    assert_finds(
        &format!("export AWS_SECRET_ACCESS_KEY={AWS_SECRET}"),
        &[("aws_secret_access_key", AWS_SECRET)],
    );
    assert_finds(
        &format!(
            "{{\"AccessKey\": {{\"SecretAccessKey\": \"{AWS_SECRET}\", \"Status\": \"Active\"}}}}"
        ),
        &[("aws_secret_access_key", AWS_SECRET)],
    );
    assert_finds(
        &format!("AWS Secret Access Key [None]: {AWS_SECRET}"),
        &[("aws_secret_access_key", AWS_SECRET)],
    );
    assert_finds(
        &format!("aws configure set --secret-access-key {AWS_SECRET}"),
        &[("aws_secret_access_key", AWS_SECRET)],
    );
    // The credentials CSV: the id is the context.
    assert_finds(
        &format!("Access key ID,Secret access key\n{AKID},{AWS_SECRET}\n"),
        &[
            ("aws_access_key_id", AKID),
            ("aws_secret_access_key", AWS_SECRET),
        ],
    );
}

#[test]
fn aws_secret_access_key_near_misses() {
    // No context: a bare 40-byte base64 string.
    assert_none(&format!("blob {AWS_SECRET} end"));
    // A git SHA after a key name: hex has no uppercase.
    assert_finds(
        "aws_secret: 3f786850e387550fdab836ed7e6dc881de23001b",
        &[("secret", "3f786850e387550fdab836ed7e6dc881de23001b")],
    );
    // Context too far away.
    let far = format!("aws secret {} {AWS_SECRET}", "x".repeat(60));
    assert!(
        found(&far)
            .iter()
            .all(|(k, _)| k != "aws_secret_access_key")
    );
    // 41 bytes, or glued to `=`.
    assert_finds(
        &format!("aws_secret_access_key={AWS_SECRET}A"),
        &[("secret", &format!("{AWS_SECRET}A"))],
    );
    assert_finds(
        &format!("aws_secret_access_key={AWS_SECRET}="),
        &[("secret", &format!("{AWS_SECRET}="))],
    );
}

// ---- github_token -----------------------------------------------------------

#[test]
fn github_tokens() {
    assert_finds(
        &format!("git clone https://{GHP}@github.com/acme/api"),
        &[("github_token", GHP)],
    );
    let pat =
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    assert_finds(&format!("GH_TOKEN={pat}"), &[("github_token", pat)]);
    for p in ["gho_", "ghu_", "ghs_", "ghr_"] {
        let t = format!("{p}{}", "a1B2".repeat(9));
        assert_finds(&format!("token: {t}"), &[("github_token", &t)]);
    }
    assert_finds(
        &format!("https://x-access-token:{GHP}@github.com/o/r.git"),
        &[("github_token", GHP)],
    );
}

#[test]
fn github_token_near_misses() {
    assert_none("ghp_x");
    assert_none("see ghp_abc123 for details");
    assert_none(&format!("ghp_{}", "a".repeat(35)));
    assert_none(&format!("ghp_{}", "a".repeat(256)));
    assert_none(&format!("xghp_{}", "a".repeat(36)));
    assert_none("github_pat_short");
}

// ---- slack_token ------------------------------------------------------------

#[test]
fn slack_tokens() {
    let bot = "xoxb-1234567890123-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    assert_finds(&format!("SLACK_BOT_TOKEN={bot}\n"), &[("slack_token", bot)]);
    let app = "xapp-1-A0123456789-1234567890123-abcdef0123456789";
    assert_finds(&format!("app token {app}"), &[("slack_token", app)]);
    assert_finds(
        "curl -X POST https://hooks.slack.com/services/T00000000/B00000000/Zk3XqW9pLm2VbN7cRt5YhJ8d -d '{}'",
        &[(
            "slack_token",
            "T00000000/B00000000/Zk3XqW9pLm2VbN7cRt5YhJ8d",
        )],
    );
    assert_none("xoxb-short");
    assert_none("the xoxb- prefix");
    assert_none("https://hooks.slack.com/services/");
}

// ---- stripe_key -------------------------------------------------------------

#[test]
fn stripe_keys() {
    let sk = "sk_live_51H8x2aLkdjf83jdkEXAMPLE0000";
    assert_finds(
        &format!("curl https://api.stripe.com/v1/charges -u {sk}:"),
        &[("stripe_key", sk)],
    );
    for t in [
        "rk_test_abcdefghij0123",
        "rk_live_0123456789abcdef",
        "whsec_abcdefghijklmnopqrstuvwx",
    ] {
        assert_finds(&format!("key={t};"), &[("stripe_key", t)]);
    }
    // Publishable keys are public by design, even under a key that names a
    // secret.
    let pk = "pk_live_51H8x2aLkdjf83jdkEXAMPLE0000";
    assert_none(&format!("Stripe('{pk}');"));
    assert_none(&format!(
        "STRIPE_PUBLISHABLE_KEY={pk}\nstripe_api_key: pk_test_0123456789abcdef"
    ));
    assert_none("use the sk_ prefix for secret keys");
    assert_none("sk_live_short");
    assert_none("whsec_short");
    assert_none(&format!("sk_live_{}", "a".repeat(248)));
    assert_none("task_live_0123456789abc");
}

// ---- google_api_key ---------------------------------------------------------

#[test]
fn google_api_keys() {
    let k = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI";
    assert_eq!(k.len(), 39);
    assert_finds(
        &format!("https://maps.googleapis.com/maps/api/js?key={k}&callback=x"),
        &[("google_api_key", k)],
    );
    assert_none(&format!("{k}x"));
    assert_none(&k[..38]);
}

// ---- jwt --------------------------------------------------------------------

#[test]
fn jwts() {
    assert_finds(&format!("token={JWT}"), &[("jwt", JWT)]);
    assert_finds(&format!("{{\"id_token\":\"{JWT}\"}}"), &[("jwt", JWT)]);
    // Unsigned: the span ends after the second dot.
    let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0In0.";
    assert_finds(&format!("{unsigned} ok"), &[("jwt", unsigned)]);
    // Truncated after the payload.
    let truncated = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0In0";
    assert_finds(truncated, &[("jwt", truncated)]);
    assert_none("eyJ.eyJ.");
    assert_none("eyJhbGciOiJub25lIn0.notapayload.x");
    assert_none(&format!("x{JWT}"));
}

// ---- bearer_token -----------------------------------------------------------

#[test]
fn bearer_tokens() {
    let opaque = "ya29.a0AfH6SMBx-3_example_token~value";
    assert_finds(
        &format!("curl -H \"Authorization: Bearer {opaque}\" https://api.example.com"),
        &[("bearer_token", opaque)],
    );
    assert_finds(
        &format!("curl -H 'Authorization: bearer  {JWT}' https://x"),
        &[("jwt", JWT)],
    );
    assert_finds(
        &format!("Authorization: Bearer {GHP}"),
        &[("github_token", GHP)],
    );
    assert_finds(
        "the header was Bearer abcdefghijklmnop1234 here",
        &[("bearer_token", "abcdefghijklmnop1234")],
    );
    assert_none("Bearer short");
    assert_none("Bearer $TOKEN");
    assert_none("Bearer <token>");
    assert_none("BearerToken abcdefghijklmnopqrstuv");
    assert_none("xBearer abcdefghijklmnopqrstuv");
}

// ---- private_key ------------------------------------------------------------

#[test]
fn private_keys() {
    for label in [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ] {
        let key = format!(
            "-----BEGIN {label}-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MBgFVhbbNJk=\nAKIAIOSFODNN7EXAMPLE\n-----END {label}-----"
        );
        assert_finds(
            &format!("$ cat id\n{key}\n$ "),
            &[("private_key", key.as_str())],
        );
    }
    // No END marker: to the end of the text.
    let open = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJ";
    assert_finds(&format!("key:\n{open}"), &[("private_key", open)]);
    // JSON-escaped (a service account file): `\\n` reads as a line break,
    // the block ends at its END line.
    let escaped = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----";
    assert_finds(
        &format!(
            "{{\"type\": \"service_account\", \"private_key\": \"{escaped}\\n\", \"client_email\": \"a@b.iam\"}}"
        ),
        &[("private_key", escaped)],
    );
    let escaped_bare =
        "-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIBk\\n-----END EC PRIVATE KEY-----";
    assert_finds(
        &format!("log: {escaped_bare}\\n"),
        &[("private_key", escaped_bare)],
    );
}

#[test]
fn public_keys_and_certificates_are_not_private_keys() {
    assert_none(
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
    );
    assert_none(
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa\n-----END CERTIFICATE-----",
    );
    assert_none("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host");
    assert_none("-----BEGIN -----");
}

// ---- password ---------------------------------------------------------------

#[test]
fn url_passwords() {
    assert_finds(
        "DATABASE_URL=postgres://app:s3cr3t-P4ss@db.internal:5432/app",
        &[("password", "s3cr3t-P4ss")],
    );
    assert_finds(
        "redis://:hunter22@cache:6379/0",
        &[("password", "hunter22")],
    );
    assert_finds(
        "mongodb://admin:p@ss:w0rd@mongo.local/db?authSource=admin",
        &[("password", "p@ss:w0rd")],
    );
    assert_finds("see https://user:pw@example.com.", &[("password", "pw")]);
    assert_none("ssh://git@github.com/acme/api.git");
    assert_none("https://example.com:8443/path");
    assert_none("https://example.com/user:pass@x");
    assert_none("postgres://app:${DB_PASSWORD}@db/app");
    assert_none("postgres://app:****@db/app");
    assert_none("postgres://app:@db/app");
}

#[test]
fn password_assignments() {
    for (text, value) in [
        ("DB_PASSWORD=hunter22", "hunter22"),
        ("export DB_PASSWORD=\"c0rrect horse\"", "c0rrect horse"),
        ("password: Tr0ub4dor&3", "Tr0ub4dor"),
        ("  password: 'Tr0ub4dor&3'\n", "Tr0ub4dor&3"),
        (
            "{\"password\": \"p\\\"ss w0rd\", \"user\": \"bob\"}",
            "p\\\"ss w0rd",
        ),
        ("spring.datasource.password=changeme", "changeme"),
        ("user.password = secret123", "secret123"),
        ("$password = 'hunter22';", "hunter22"),
        ("'password' => 'hunter22',", "hunter22"),
        ("POST /login?user=bob&pwd=hunter22&x=1", "hunter22"),
        ("Server=db;Uid=sa;Pwd=Str0ng!Pass;", "Str0ng!Pass"),
        ("dbPassword: hunter22", "hunter22"),
        ("new_password2=hunter22", "hunter22"),
        ("PGPASSWORD=hunter22 psql -h db", "hunter22"),
        ("SMTP_PASS=hunter22", "hunter22"),
        ("passphrase := \"open sesame\"", "open sesame"),
        ("password_hash: $2b$12$abcdefghijk", "$2b$12$abcdefghijk"),
        ("mysql --password=hunter22 -u root", "hunter22"),
        ("docker login --password hunter22 registry", "hunter22"),
        ("config['password'] = 'hunter22'", "hunter22"),
        ("<user password=\"hunter22\"/>", "hunter22"),
    ] {
        assert_finds(text, &[("password", value)]);
    }
}

#[test]
fn password_non_values() {
    for text in [
        "password: ********",
        "password=${DB_PASSWORD}",
        "password: \"${{ secrets.DB_PASSWORD }}\"",
        "password={{ .Values.password }}",
        "password: <your password>",
        "password=%(db_password)s",
        "password=$DB_PASSWORD",
        "password=%DB_PASSWORD%",
        "password=$(cat /run/secrets/db)",
        "password: \"{password}\"",
        "password: null",
        "password: None",
        "password: true",
        "password: xxxxxxxx",
        "password: [REDACTED]",
        "password: \"\"",
        "password=",
        "password:\n  nested: 1",
        "password: abc",
        "password_policy: strict",
        "password_file: /run/secrets/db",
        "passwordless: enabled",
        "PWD=/home/user/project",
        "OLDPWD=/home/user",
        "if password == \"hunter22\"",
        "password = get_password()",
        "password = os.environ[\"DB_PASSWORD\"]",
        "connect(password=self.password)",
        "connect(password=db_password)",
        "password: string;",
        "password: Option<String>,",
        "--password PASSWORD",
        "use the --password flag",
        "the compass: northwest",
    ] {
        assert_none(text);
    }
}

// ---- secret -----------------------------------------------------------------

#[test]
fn secret_assignments() {
    for (text, value) in [
        ("API_KEY=abcd1234efgh5678", "abcd1234efgh5678"),
        ("x-api-key: abcd1234efgh5678", "abcd1234efgh5678"),
        (
            "\"client_secret\": \"abcd1234efgh5678\"",
            "abcd1234efgh5678",
        ),
        (
            "SECRET_KEY = 'django-insecure-abcd1234'",
            "django-insecure-abcd1234",
        ),
        ("secret_key_base: abcd1234efgh5678", "abcd1234efgh5678"),
        (
            "access_token=abcd1234efgh5678&expires=3600",
            "abcd1234efgh5678",
        ),
        ("refresh-token: abcd1234efgh5678", "abcd1234efgh5678"),
        ("authToken: 'abcd1234efgh5678'", "abcd1234efgh5678"),
        ("apikey=abcd1234efgh5678", "abcd1234efgh5678"),
        ("credentials=abcd1234efgh5678", "abcd1234efgh5678"),
        ("auth: abcd1234efgh5678", "abcd1234efgh5678"),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNzd29yZA==",
        ),
        ("Authorization: token abcd1234efgh5678", "abcd1234efgh5678"),
        ("X-Auth-Token: abcd1234efgh5678", "abcd1234efgh5678"),
        ("csrftoken=abcd1234efgh5678; Path=/", "abcd1234efgh5678"),
        (
            "vault write auth/approle/login secret_id=abcd1234efgh5678",
            "abcd1234efgh5678",
        ),
        (
            "\"cmd\": \"export NPM_TOKEN=abcd1234efgh5678\"",
            "abcd1234efgh5678",
        ),
        (
            "{\\\"token\\\": \\\"abcd1234efgh5678\\\"}",
            "abcd1234efgh5678",
        ),
        ("API_TOKEN = f\"abcd1234efgh5678\"", "abcd1234efgh5678"),
        ("token = rb'abcd1234efgh5678'", "abcd1234efgh5678"),
        (
            "\"AWS Secret Key\": \"abcd1234efgh5678\"",
            "abcd1234efgh5678",
        ),
    ] {
        assert_finds(text, &[("secret", value)]);
    }
}

#[test]
fn secret_non_values() {
    for text in [
        "max_tokens=4096",
        "token_count: 12",
        "token_id: 12345678",
        "private_key_id: abcd1234efgh5678",
        "tokens_used: 12345",
        "\"max_tokens\": 4096, \"temperature\": 0.2",
        "auth_method: oauth2-device",
        "author: Jane Doe",
        "authorName: Jane Doe",
        "token_type: Bearer",
        "token_url: https://example.com/oauth/token",
        "secretName: db-credentials-v1",
        "oauth: enabled-always",
        "key: value1234",
        "\"auth\": {\"type\": \"none\"}",
        "token = None",
        "api_key: str = Field(...)",
        "api_key = settings.API_KEY",
        "token: process.env.GITHUB_TOKEN,",
        "TOKEN=${GITHUB_TOKEN}",
        "Token::new(value)",
        "at 12:30:45 the secret was rotated",
        "HEADERS = {\"Authorization\": f\"Bearer {token}\"}",
        "JWT_PRIVATE_KEY=\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEAx\\n-----END PUBLIC KEY-----\"",
        "curl https://api.stripe.com/v1/charges -u \"$STRIPE_SECRET_KEY:\" \\\n  -d amount=2000",
        "2024-04-07T17:47:51Z DEBUG auth: rejected expired token",
    ] {
        assert_none(text);
    }
    // A nested object: its members are assignments of their own.
    assert_finds(
        "\"auth\": {\"token\": \"abcd1234efgh5678\"}",
        &[("secret", "abcd1234efgh5678")],
    );
}

#[test]
fn specific_kinds_beat_generic_ones() {
    assert_finds(&format!("GITHUB_TOKEN={GHP}"), &[("github_token", GHP)]);
    assert_finds(&format!("password: \"{JWT}\""), &[("jwt", JWT)]);
    assert_finds(
        &format!("aws_secret_access_key = \"{AWS_SECRET}\""),
        &[("aws_secret_access_key", AWS_SECRET)],
    );
    // The union: the value goes on after the token.
    assert_finds(
        &format!("api_key={GHP}.x"),
        &[("github_token", &format!("{GHP}.x"))],
    );
}

#[test]
fn ids_and_digests_are_not_secrets() {
    for text in [
        "commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)",
        "request 123e4567-e89b-12d3-a456-426614174000 failed",
        "\"request_id\": \"123e4567-e89b-12d3-a456-426614174000\"",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "image: registry.example.com/app@sha256:9f86d081884c7d659a2feaa0c55ad015",
        "Stripe secret keys start with sk_live_ and test keys with sk_test_.",
        "GitHub personal tokens start with ghp_, OAuth tokens with gho_.",
        "Bearer tokens are sent in the Authorization header.",
        "the value of Bearer is not logged",
        "version: 1.2.3-beta+build.5",
    ] {
        assert_none(text);
    }
}

// ---- more forms and edge cases -------------------------------------------

#[test]
fn tokens_at_the_very_start_and_end() {
    for t in [
        AKID,
        GHP,
        JWT,
        "xoxb-1234567890-abcdefghij",
        "sk_test_0123456789",
    ] {
        assert_eq!(found(t).len(), 1, "{t}");
        assert_eq!(found(t)[0].1, t);
        let text = format!("{t}\n");
        assert_eq!(found(&text)[0].1, t);
        let text = format!("value:{t}");
        assert_eq!(found(&text).last().unwrap().1, t);
    }
    assert_finds(
        "Bearer abcdefghijklmnopqrstuvwxyz",
        &[("bearer_token", "abcdefghijklmnopqrstuvwxyz")],
    );
    assert_finds("password=hunter22", &[("password", "hunter22")]);
}

#[test]
fn slack_refresh_and_rotated_tokens() {
    let refresh = "xoxe-1-abcdefghijklmnop";
    assert_finds(&format!("refresh {refresh}"), &[("slack_token", refresh)]);
    let rotated = "xoxe.xoxp-1-abcdefghijklmnop";
    assert_finds(
        &format!("t={rotated}"),
        &[("slack_token", "xoxp-1-abcdefghijklmnop")],
    );
    assert_finds(
        "HTTPS://HOOKS.SLACK.COM/services/TABC123/BDEF456/abcdefXYZ123",
        &[("slack_token", "TABC123/BDEF456/abcdefXYZ123")],
    );
}

#[test]
fn command_line_options() {
    assert_finds(
        "gh auth login --token abcd1234efgh5678",
        &[("secret", "abcd1234efgh5678")],
    );
    assert_finds(
        "az login -u bob --password 'S3cret!Pass'",
        &[("password", "S3cret!Pass")],
    );
    assert_finds(
        "tool --api-key=abcd1234efgh5678 --verbose",
        &[("secret", "abcd1234efgh5678")],
    );
    assert_none("usage: tool --token TOKEN [--password PASSWORD]");
    assert_none("usage: tool --token=TOKEN --api-key=API_KEY");
    assert_finds(
        "tool --token abcdefghijklmnopq",
        &[("secret", "abcdefghijklmnopq")],
    );
    assert_none("tool --password --verbose");
    assert_none("tool --password-stdin registry.example.com");
    assert_none("pass the --api-key option");
}

#[test]
fn camel_case_and_spaced_aws_names() {
    assert_finds(
        &format!("awsSecretAccessKey: \"{AWS_SECRET}\""),
        &[("aws_secret_access_key", AWS_SECRET)],
    );
    assert_finds(
        &format!("my aws secret is {AWS_SECRET} ok"),
        &[("aws_secret_access_key", AWS_SECRET)],
    );
}

#[test]
fn url_userinfo_is_not_an_assignment() {
    assert_finds(
        "https://token:abcd1234@example.com/x",
        &[("password", "abcd1234")],
    );
    assert_finds(
        &format!("https://oauth2:{GHP}@gitlab.example.com/g/p.git"),
        &[("github_token", GHP)],
    );
    assert_finds(
        "ftp://user:p@ss@host/file and https://host/?password=hunter22&x=1",
        &[("password", "p@ss"), ("password", "hunter22")],
    );
}

#[test]
fn private_key_edges() {
    // CRLF, and a certificate END before the key's END.
    let key = "-----BEGIN PRIVATE KEY-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\nMIIC\r\n-----END PRIVATE KEY-----";
    assert_finds(&format!("{key}\r\n"), &[("private_key", key)]);
    // A certificate chain and then a key: only the key.
    let key = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----";
    assert_finds(
        &format!("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n{key}\n"),
        &[("private_key", key)],
    );
}

#[test]
fn authorization_schemes() {
    assert_finds(
        "Authorization: Bot MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ",
        &[("secret", "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ")],
    );
    assert_finds(
        "authorization: bearer abcdefghijklmnopqrstuvwxyz012345",
        &[("bearer_token", "abcdefghijklmnopqrstuvwxyz012345")],
    );
    // A short bearer token is still the value of `Authorization`.
    assert_finds(
        "Authorization: Bearer abc123def",
        &[("secret", "abc123def")],
    );
    assert_finds(
        "{\"access_token\": \"Bearer abcdefghijklmnopqrstuvwxyz\"}",
        &[("bearer_token", "abcdefghijklmnopqrstuvwxyz")],
    );
    assert_finds("token=\"Token abcd1234\"", &[("secret", "Token abcd1234")]);
    assert_none("Authorization: Bearer");
    assert_none("Authorization: Bearer ${TOKEN}");
}

#[test]
fn windows_and_misc_forms() {
    assert_finds("set PASSWORD=hunter22", &[("password", "hunter22")]);
    assert_finds(
        "$env:API_TOKEN = \"abcd1234efgh5678\"",
        &[("secret", "abcd1234efgh5678")],
    );
    assert_finds(
        "VAULT_SECRET_ID=abcd1234efgh5678",
        &[("secret", "abcd1234efgh5678")],
    );
    assert_finds(
        "Set-Cookie: session=x; token=abcd1234efgh5678; Path=/",
        &[("secret", "abcd1234efgh5678")],
    );
    assert_finds(
        "\"env\": {\"DB_PASSWORD\": \"hunter22\"}",
        &[("password", "hunter22")],
    );
}

// ---- adversarial ------------------------------------------------------------

#[test]
fn full_width_and_invisible_characters() {
    let wide: String = AKID
        .chars()
        .map(|c| char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap())
        .collect();
    let text = format!("key ＝ {wide} end");
    assert_finds(&text, &[("aws_access_key_id", &wide)]);

    let zw = format!("{}\u{200B}{}", &GHP[..10], &GHP[10..]);
    assert_finds(&format!("t {zw}\u{200B} x"), &[("github_token", &zw)]);

    let text = "pass\u{200B}word=ｈｕｎｔｅｒ２２ ok";
    assert_finds(text, &[("password", "ｈｕｎｔｅｒ２２")]);

    let text = format!("Authorization: Bearer\u{3000}{JWT}");
    assert_finds(&text, &[("jwt", JWT)]);
}

#[test]
fn non_ascii_around_tokens_maps_back() {
    let text = format!("clé « {GHP} » café");
    assert_finds(&text, &[("github_token", GHP)]);
    let text = format!("mot_de_passe: é; password=hünter22 ok {AKID}");
    assert_finds(
        &text,
        &[("password", "hünter22"), ("aws_access_key_id", AKID)],
    );
}

#[test]
fn adversarial_inputs_finish() {
    const MB: usize = 1 << 20;
    let inputs: Vec<String> = vec![
        "AKIA".repeat(MB / 4),
        "AKIA ".repeat(MB / 5),
        "password=".repeat(MB / 9),
        "password: ".repeat(MB / 10),
        "pwd=/a=".repeat(MB / 7),
        "eyJ.".repeat(MB / 4),
        "eyJ-".repeat(MB / 4),
        "eyJaaaaaaaaaa.".repeat(MB / 14),
        "eyJaaaaaaaaaa.eyJa.".repeat(MB / 19),
        "-----BEGIN ".repeat(MB / 11),
        "-----BEGIN PRIVATE KEY-----".repeat(MB / 27),
        "-----END PRIVATE KEY-----".repeat(MB / 25),
        "://:@".repeat(MB / 5),
        "a://b:c@".repeat(MB / 8),
        "Bearer ".repeat(MB / 7),
        "Bearer Bearer abcdefghijklmnopq ".repeat(MB / 32),
        "github_pat_".repeat(MB / 11),
        "xoxb-".repeat(MB / 5),
        "token=\"".repeat(MB / 7),
        "token: {".repeat(MB / 8),
        "\"secret\": \"".repeat(MB / 11),
        "--token --token ".repeat(MB / 16),
        "aws_secret ".repeat(MB / 11),
        "SecretAccessKey".repeat(MB / 15),
        "=".repeat(MB),
        ":".repeat(MB),
        "-".repeat(MB),
        "${".repeat(MB / 2),
        "password=<".repeat(MB / 10),
        format!("aws_secret_access_key={}", "aB3/".repeat(MB / 4)),
        {
            // 1 MB of base64.
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut x: u32 = 12345;
            (0..MB)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    alphabet[(x >> 16) as usize % 64] as char
                })
                .collect()
        },
    ];
    // Each is handled, with findings that keep the contract. How long they
    // take is measured by `cargo bench -p palisade --bench masking`, not
    // asserted here.
    for input in &inputs {
        let f = Secrets::mask(input);
        assert_eq!(tidy_findings(input, f.clone()), f);
    }
}

#[test]
fn random_fragments_never_break_the_contract() {
    let fragments = [
        "AKIA",
        "IOSFODNN7EXAMPLE",
        "AIza",
        "ghp_",
        "github_pat_",
        "xoxb-",
        "xapp-",
        "sk_live_",
        "whsec_",
        "eyJ",
        "eyJhbGciOiJIUzI1",
        ".",
        "Bearer ",
        "bearer",
        "-----BEGIN ",
        "-----END ",
        "PRIVATE KEY",
        "-----",
        "://",
        ":",
        "@",
        "/",
        "=",
        "=>",
        ":=",
        "==",
        "password",
        "token",
        "secret",
        "aws_secret_access_key",
        "_",
        "-",
        "--",
        " ",
        "\t",
        "\n",
        "\"",
        "'",
        "`",
        "\\",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        "$",
        "%",
        "*",
        "x",
        "abc123",
        "ABCDEFGHIJKLMNOP",
        "0123456789",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
        "é",
        "Ａ",
        "＝",
        "\u{200B}",
        "\u{3000}",
        "–",
        "€",
        "𝟒",
        ",",
        ";",
        "&",
        "hooks.slack.com/services/",
        "T01/",
        "B02/",
        "pwd",
        "Authorization",
        "Basic ",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rand = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for _ in 0..20_000 {
        let len = rand(24);
        let text: String = (0..len).map(|_| fragments[rand(fragments.len())]).collect();
        let f = Secrets::mask(&text);
        assert_eq!(tidy_findings(&text, f.clone()), f, "{text:?}");
        for f in &f {
            assert!(f.start < f.end && f.end <= text.len(), "{text:?}");
            assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        }
    }
}

// ---- throughput -------------------------------------------------------------

const PROSE: &str = "The deployment finished at noon and the team reviewed the logs, \
    which showed a steady request rate with a few retries against the primary \
    database; nobody expected the cache to warm up so quickly after the restart. ";
const LOG: &str = "2024-05-01T12:00:01.123Z INFO request_id=7f3e2a method=GET path=/api/v1/users \
    status=200 duration_ms=12 user_agent=\"curl/8.4.0\" remote=10.0.0.12\n";
const CONFIG: &str =
    "server:\n  host: 0.0.0.0\n  port: 8080\n  timeout: 30s\nlogging:\n  level: info\n";
const JSON: &str = "{\"id\": 1234, \"name\": \"widget\", \"tags\": [\"a\", \"b\"], \"price\": 12.5, \
    \"max_tokens\": 4096, \"created_at\": \"2024-05-01T12:00:00Z\"}\n";

/// ~8 MB of prose, logs, configs and JSON with a secret every ~500 bytes.
fn mixed_corpus() -> String {
    let (prose, log, config, json) = (PROSE, LOG, CONFIG, JSON);
    let secrets = [
        format!("aws_access_key_id = {AKID}\n"),
        format!("export GITHUB_TOKEN={GHP}\n"),
        format!("-H \"Authorization: Bearer {JWT}\"\n"),
        "DATABASE_URL=postgres://app:hunter22@db:5432/app\n".to_owned(),
        "password: Tr0ub4dor&3\n".to_owned(),
        "\"api_key\": \"abcd1234efgh5678\"\n".to_owned(),
    ];
    let mut out = String::with_capacity(8 << 20);
    let mut k = 0;
    while out.len() < 8 << 20 {
        out.push_str(prose);
        out.push_str(log);
        out.push_str(config);
        out.push_str(json);
        out.push_str(&secrets[k % secrets.len()]);
        k += 1;
    }
    out
}

/// The best throughput of `text` over a few batches, in MB/s of this thread's
/// CPU time where Linux tells it, else of wall time (on a shared machine,
/// wall time also counts the time other processes ran).
fn best_throughput(text: &str) -> f64 {
    fn cpu_seconds() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
        Some(ns / 1e9)
    }
    let mut best = 0f64;
    for _ in 0..5 {
        let (cpu, wall) = (cpu_seconds(), std::time::Instant::now());
        for _ in 0..4 {
            std::hint::black_box(Secrets::mask(std::hint::black_box(text)));
        }
        let secs = match (cpu, cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => wall.elapsed().as_secs_f64(),
        };
        best = best.max((text.len() * 4) as f64 / 1e6 / secs);
    }
    best
}

#[test]
#[ignore = "throughput measurement: cargo test --release -- --ignored --nocapture"]
fn throughput() {
    let text = mixed_corpus();
    let found = Secrets::mask(&text).len();
    assert!(found > 10_000);
    println!(
        "secrets: {:.0} MB/s on {:.1} MB of mixed text ({found} findings)",
        best_throughput(&text),
        text.len() as f64 / 1e6
    );
    for (name, part) in [
        ("prose", PROSE),
        ("log", LOG),
        ("config", CONFIG),
        ("json", JSON),
    ] {
        let text = part.repeat((8 << 20) / part.len());
        assert!(Secrets::mask(&text).is_empty());
        println!("  {name} only: {:.0} MB/s", best_throughput(&text));
    }
}

// ---- provider keys ----------------------------------------------------------

#[test]
fn ai_provider_keys() {
    let body93 = "Ab3_-".repeat(18) + "xyz";
    let ant = format!("sk-ant-api03-{body93}AA");
    assert_eq!(ant.len(), 108);
    assert_finds(
        &format!("ANTHROPIC_API_KEY={ant}\n"),
        &[("anthropic_api_key", &ant)],
    );
    assert_finds(&format!("x-api-key: {ant}"), &[("anthropic_api_key", &ant)]);
    let admin = format!("sk-ant-admin01-{body93}AA");
    assert_finds(&format!("key {admin}."), &[("anthropic_api_key", &admin)]);
    let proj = format!("sk-proj-{}", "aB9_-".repeat(30));
    assert_finds(
        &format!("Authorization: Bearer {proj}"),
        &[("openai_api_key", &proj)],
    );
    let svc = format!("sk-svcacct-{}", "Zq81x".repeat(12));
    assert_finds(
        &format!("OPENAI_API_KEY=\"{svc}\""),
        &[("openai_api_key", &svc)],
    );
    let legacy = "sk-abcdefghij0123456789T3BlbkFJklmnopqrst0123456789";
    assert_finds(
        &format!("openai.api_key = '{legacy}'"),
        &[("openai_api_key", legacy)],
    );
    assert_none("sk-ant-short and sk-proj-short");
    assert_none("use an sk-ant- key");
    assert_none("task-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789abcd");
}

#[test]
fn code_registry_tokens() {
    let glpat = "glpat-xY3_zA9-bC1dE2fG3hJ4";
    assert_finds(
        &format!("PRIVATE-TOKEN: {glpat}"),
        &[("gitlab_token", glpat)],
    );
    assert_finds(
        &format!("https://oauth2:{glpat}@gitlab.com/acme/app.git"),
        &[("gitlab_token", glpat)],
    );
    let routable = "glpat-AbCdEfGhIjKlMnOpQrStUvWxYz.01.0y1w1tdqh";
    assert_finds(
        &format!("token {routable} ok"),
        &[("gitlab_token", routable)],
    );
    let runner = "GR1348941aBcDeFgHiJkLmNoPqRsTu";
    assert_finds(
        &format!("--registration-token {runner}"),
        &[("gitlab_token", runner)],
    );
    assert_none("glpat-short and gldt- and aglpat-xY3zA9bC1dE2fG3hJ4kL");
    let npm = format!("npm_{}", "a1B2c3D4e5".repeat(3) + "F6g7H8");
    assert_eq!(npm.len(), 40);
    assert_finds(
        &format!("//registry.npmjs.org/:_authToken={npm}\n"),
        &[("npm_token", &npm)],
    );
    assert_none("npm_abc123 and npm_install_script");
    let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", "CJGE2ZTk4-_".repeat(7));
    assert_finds(
        &format!("[pypi]\nusername = __token__\npassword = {pypi}\n"),
        &[("pypi_token", &pypi)],
    );
    assert_none("pypi-AgEIcHlwaS5vcmc");
}

#[test]
fn azure_keys() {
    let account = format!(
        "{}==",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw"
            .get(..86)
            .unwrap()
    );
    let conn = format!(
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={account};EndpointSuffix=core.windows.net"
    );
    assert_finds(&conn, &[("azure_key", &account)]);
    let sas = "Kq1Pz0a2LmN3oP4qR5sT6uV7wX8yZ9aBcDeFgHiJkLm=";
    assert_finds(
        &format!(
            "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={sas}"
        ),
        &[("azure_key", sas)],
    );
    let entra = "abc8Q~DEFghiJKLmnoPQRstuVWXyz0123456789.-";
    assert_eq!(entra.len(), 41);
    let entra = &entra[..40];
    assert_finds(
        &format!("client secret {entra} (expires 2027)"),
        &[("azure_key", entra)],
    );
    assert_none("see ~/.ssh and 8Q~ in prose");
}

// ---- evasion ----------------------------------------------------------------

#[test]
fn look_alike_letters_in_the_words_that_name_a_secret() {
    // Cyrillic а, е, о, р, і, ѕ in the keyword.
    assert_finds(
        "раѕѕwоrd: hunter2hunter2",
        &[("password", "hunter2hunter2")],
    );
    assert_finds(
        "Authorization: Веаrеr abcdefghijklmnopqrstuvwxyz0123",
        &[("bearer_token", "abcdefghijklmnopqrstuvwxyz0123")],
    );
    assert_finds(
        "client_ѕесrеt = 'Zx9pQ2mL7vN4bR8t'",
        &[("secret", "Zx9pQ2mL7vN4bR8t")],
    );
    // Full-width letters.
    assert_finds(
        "ｐａｓｓｗｏｒｄ=Tr0ub4dor&3x",
        &[("password", "Tr0ub4dor")],
    );
}

#[test]
fn abbreviated_password_keys() {
    for key in ["pw", "pwd", "passwd", "pass", "PASS", "DB_PW", "smtp_pass"] {
        assert_finds(
            &format!("{key}=S3cr3tValue!"),
            &[("password", "S3cr3tValue!")],
        );
    }
    assert_none("bypass=true compass: north");
}

#[test]
fn escaped_and_wrapped_secrets() {
    assert_finds(
        "curl 'https://x.example/login?user=jane&password=p%40ss%3Aw0rd%21&next=/'",
        &[("password", "p%40ss%3Aw0rd%21")],
    );
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let (a, b) = jwt.split_at(40);
    let wrapped = format!("{a}\n      {b}");
    assert_finds(
        &format!("Authorization: Bearer {wrapped}\nnext"),
        &[("jwt", &wrapped)],
    );
    let quoted = format!("{a}\n> {b}");
    assert_finds(&format!("> token {quoted}\n>\n> bye"), &[("jwt", &quoted)]);
    // A word right after the token on the next quoted line may be taken in:
    // masking too much is the safe side.
    let taken = format!("{quoted}\n> bye");
    assert_finds(&format!("> token {taken}"), &[("jwt", &taken)]);
}

#[test]
fn unusual_pem_blocks() {
    let headers = "-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,2B5E3C\r\n\r\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\r\n-----END RSA PRIVATE KEY-----";
    assert_finds(
        &format!("key:\r\n{headers}\r\n"),
        &[("private_key", headers)],
    );
    let yaml = "-----BEGIN EC PRIVATE KEY-----\n    MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5\n    oAoGCCqGSM49AwEHoUQDQgAE\n    -----END EC PRIVATE KEY-----";
    assert_finds(
        &format!("tls:\n  key: |\n    {yaml}\n  cert: x"),
        &[("private_key", yaml)],
    );
    let quoted = "-----BEGIN OPENSSH PRIVATE KEY-----\n> b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n> -----END OPENSSH PRIVATE KEY-----";
    assert_finds(
        &format!("> here:\n> {quoted}\n> thanks"),
        &[("private_key", quoted)],
    );
}

#[test]
fn password_files_and_commands() {
    assert_finds(
        "machine api.example.com\n  login jane\n  password Zq8-mLw2pX\n",
        &[("password", "Zq8-mLw2pX")],
    );
    assert_finds(
        "machine git.example.com login jane password s3cr3t-Pa55 ok",
        &[("password", "s3cr3t-Pa55")],
    );
    assert_none("the password reset link");
    assert_finds(
        "db.example.com:5432:billing:app:Soleil2012#\n*:*:*:report:hunter2hunter2\n",
        &[("password", "Soleil2012#"), ("password", "hunter2hunter2")],
    );
    assert_none("12:30:45:00:11 and a:b:c:d:e f");
    assert_finds(
        "CREATE USER 'report'@'%' IDENTIFIED BY 'wfzyHLWau5GPmkdnC';",
        &[("password", "wfzyHLWau5GPmkdnC")],
    );
    assert_finds(
        "curl -u fatima:mango-horse-staple-42 https://x",
        &[("password", "mango-horse-staple-42")],
    );
    assert_finds(
        "curl --user 'ci:Zq8mLw2pX' https://x",
        &[("password", "Zq8mLw2pX")],
    );
    assert_none("curl -u \"$USER:$PASS\" https://x");
    // Not assignments: a psql prompt, a CI permission, masked values.
    assert_none("billing=> SELECT id FROM users;\npermissions:\n  id-token: write\n");
    assert_none(
        "OPENAI_API_KEY=sk-proj-***redacted***\nSLACK_TOKEN=xoxb-********\nkey: AIzaXXXXXXXX",
    );
    assert_finds(
        "aws.secretKey=v7bZEdOHchMf3z2rDlwfw/NZMIqAB5zxEgVNVGR5",
        &[(
            "aws_secret_access_key",
            "v7bZEdOHchMf3z2rDlwfw/NZMIqAB5zxEgVNVGR5",
        )],
    );
}

#[test]
fn independent_corpus_findings() {
    // A base64 key with an encoded `/` in a form body is still the AWS key.
    assert_finds(
        "a=1&aws_secret_access_key=fIcDIyB4%2FOvDfYFQzfk1eErTaGcfHXwu2b%2B73A%2FX&csrf=1",
        &[(
            "aws_secret_access_key",
            "fIcDIyB4%2FOvDfYFQzfk1eErTaGcfHXwu2b%2B73A%2FX",
        )],
    );
    // An encoded `/` in a URL password does not end the authority.
    assert_finds(
        "postgresql://francois:TthQ%2Faqy%24H2@web01:5432/billing",
        &[("password", "TthQ%2Faqy%24H2")],
    );
    // Masks and public keys are not bearer tokens or webhooks.
    assert_none(
        "Authorization: Bearer sk-proj-XXXXXXXX\nAuthorization: Bearer pk_live_2PKnftfOWApg0om90DyZ9fqh",
    );
    assert_none("https://hooks.slack.com/services/T0a0896acf/B07fb5be45/XXXXXXXX");
    assert_none(
        "origin\thttps://oauth2:[FILTERED]@gitlab.com/a/b.git\nmachine x login y\n  password %(secret)s",
    );
    assert_none("conn = connect(host=host, user=user, password=password)");
    assert_none(
        "env:\n  - OPENAI_API_KEY=sk-proj-XXXXXXXX\n  - MAPS_KEY=x\nmaps_api_key = \"AIza…\"",
    );
    assert_finds("DB_PASSWORD=password", &[("password", "password")]);
}

#[test]
fn review_regressions() {
    // Encoded blanks and a form's `+` are inside the value, not its end.
    assert_finds(
        "password=correct%20horse%20battery&u=x",
        &[("password", "correct%20horse%20battery")],
    );
    assert_finds(
        "postgres://admin:my%20pass@db/app",
        &[("password", "my%20pass")],
    );
    assert_finds("password=HUNTER+2024&x=1", &[("password", "HUNTER+2024")]);
    // Values that end with a symbol, stars or dots are values, not masks.
    assert_finds("pw=Secret1%23&u=a", &[("password", "Secret1%23")]);
    assert_finds("password: Geheim§", &[("password", "Geheim§")]);
    assert_finds("password=Secret***", &[("password", "Secret***")]);
    // A password that contains its key's word is a password.
    assert_finds(
        "login failed user=admin, password=Password123, ip=10.0.0.1",
        &[("password", "Password123")],
    );
    assert_finds("password=>hunter22\n", &[("password", "hunter22")]);
    assert_none("auth=> SELECT id FROM users;\nauth=> \\conninfo\n");
    assert_none("docker run -u 1000:1000 image");
    assert_finds(
        "curl -u admin:12345678 https://api",
        &[("password", "12345678")],
    );
    // A mask covers the value's end and is a token's prefix or most of it;
    // a control character written as an escape is no mask character.
    for value in [
        "hunter22%04",
        "hunter22…",
        "Summer24•",
        "CorrectHorseBattery_...",
    ] {
        assert_finds(&format!("password={value} "), &[("password", value)]);
    }
    assert_finds(
        "password=correct&#32;horse&u=x",
        &[("password", "correct&#32;horse")],
    );
    // `.netrc` words far away do not make a `password ` an entry, and many
    // of them cost one search.
    let many = format!(
        "machine x login y\n{}",
        "password s3cr3t-value ".repeat(2000)
    );
    // (only those within 256 bytes of the entry's words)
    assert!(found(&many).len() <= 12, "{}", found(&many).len());
}
