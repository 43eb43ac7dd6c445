//! Log templates: JSON logs, nginx/apache access and error logs, syslog,
//! application logs, Python and Java stack traces, CI output.

use super::doc::{Ctx, Template};

/// The templates of this family.
pub const TEMPLATES: &[Template] = &[
    json_logs,
    nginx_access,
    apache_error,
    syslog,
    app_log,
    python_traceback,
    java_trace,
    ci_log,
    kubectl_describe,
    mail_log,
];

fn json_logs(c: &mut Ctx) {
    let n = c.rng.range(2, 5);
    for _ in 0..n {
        match c.rng.below(9) {
            6 => c.fill("{\"ts\":\"«w:iso»\",\"level\":\"info\",\"msg\":\"slack notify\",\"token\":\"«slack»\",\"channel\":\"C0«w:hex8»\"}\n"),
            7 => c.fill("{\"ts\":\"«w:iso»\",\"level\":\"debug\",\"msg\":\"outgoing\",\"headers\":{\"Authorization\":\"Bearer «bearer»\"}}\n"),
            8 => c.fill("{\"ts\":\"«w:iso»\",\"level\":\"info\",\"msg\":\"session\",\"id_token\":\"«jwt»\",\"maps_key\":\"«google»\"}\n"),
            0 => c.fill("{\"ts\":\"«w:iso»\",\"level\":\"«w:lvl»\",\"msg\":\"user logged in\",\"user\":\"«email»\",\"ip\":\"«ip»\",\"request_id\":\"«n:uuid»\"}\n"),
            1 => c.fill("{\"time\":«n:unix»,\"lvl\":\"«w:lvl»\",\"svc\":\"«w:svc»\",\"event\":\"payment.created\",\"order\":\"«n:order»\",\"amount\":«w:big»,\"currency\":\"EUR\"}\n"),
            2 => c.fill("{\"@timestamp\":\"«w:iso»\",\"log.level\":\"«w:lvl»\",\"message\":\"outbound call\",\"http.request.headers.authorization\":\"Bearer «jwt»\",\"trace.id\":\"«n:trace»\"}\n"),
            3 => c.fill("{\"ts\":\"«w:iso»\",\"level\":\"warn\",\"msg\":\"profile updated\",\"phone\":\"«phone»\",\"changed_by\":\"«n:mention»\",\"duration_ms\":«w:ms»}\n"),
            4 => c.fill("{\"ts\":\"«w:iso»\",\"level\":\"debug\",\"msg\":\"config loaded\",\"config\":{\"max_tokens\":4096,\"model\":\"claude-3-5-sonnet\",\"api_key\":\"«anthropic»\"}}\n"),
            _ => c.fill("{\"ts\":\"«w:iso»\",\"level\":\"info\",\"msg\":\"deploy finished\",\"commit\":\"«n:sha»\",\"version\":\"«n:version»\",\"image\":\"«n:sha256p»\"}\n"),
        }
    }
}

fn nginx_access(c: &mut Ctx) {
    let n = c.rng.range(2, 5);
    for _ in 0..n {
        c.fill("«ip» - - [«w:day»/«w:month»/2024:«w:clock» +0000] \"«w:method» ");
        match c.rng.below(6) {
            0 => c.fill("/api/v1/track?order=«n:order»"),
            1 => c.fill("/maps/api/geocode/json?address=«w:city»&key=«google»"),
            2 => c.fill("/api/v2/customers?email=«email»"),
            3 => c.fill("/callback?«n:pct_text»"),
            4 => c.fill("/assets/app.«n:sha7».js"),
            _ => c.fill("«w:path»"),
        }
        c.fill(" HTTP/1.1\" «w:status» «w:big» \"-\" \"«w:ua»\" rt=0.«w:num»\n");
    }
}

fn apache_error(c: &mut Ctx) {
    c.fill("[«o:Mon|Tue|Wed|Thu|Fri» «w:month» «w:day» «w:clock».«w:big» 2024] [php:error] [pid «w:pid»] [client «ipv4»:«w:big»] ");
    c.fill("«o:PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [1045] Access denied for user 'shop'@'|PHP Warning:  mysqli_connect(): (HY000/1045): Access denied for user 'root'@'»«ip»' (using password: YES) in /var/www/html/«o:db.php|config.inc.php» on line «w:num»\n");
    c.fill("[«o:Mon|Tue» «w:month» «w:day» «w:clock» 2024] [ssl:warn] [pid «w:pid»] AH01909: «w:host»:443:0 server certificate does NOT include an ID which matches the server name\n");
}

fn syslog(c: &mut Ctx) {
    let n = c.rng.range(2, 5);
    for _ in 0..n {
        c.fill("«w:month» «w:day» «w:clock» «w:host» ");
        match c.rng.below(6) {
            0 => c.fill("sshd[«w:pid»]: Accepted publickey for «w:user» from «ip» port «w:big» ssh2: ED25519 SHA256:«n:b64proto»\n"),
            1 => c.fill("sshd[«w:pid»]: Failed password for invalid user admin from «ip» port «w:big» ssh2\n"),
            2 => c.fill("postfix/smtpd[«w:pid»]: NOQUEUE: reject: RCPT from unknown[«ip»]: 554 5.7.1 <«email»>: Relay access denied\n"),
            3 => c.fill("kernel: [«w:big».«w:big»] eth0: link up, «o:1000|100» Mbps, hwaddr «n:mac»\n"),
            4 => c.fill("systemd[1]: Started «w:svc».service - «w:svc» «n:version».\n"),
            _ => c.fill("dhclient[«w:pid»]: DHCPACK of «ipv4» from «ipv4»\n"),
        }
    }
}

fn app_log(c: &mut Ctx) {
    let n = c.rng.range(2, 4);
    for _ in 0..n {
        c.fill("«w:iso» «w:level» [«o:main|http-nio-8080-exec-3|worker-2|pool-1-thread-7»] «o:c.a.payments.ChargeService|o.h.engine.jdbc.spi.SqlExceptionHelper|com.acme.crm.CustomerSync|app.billing» - ");
        match c.rng.below(7) {
            0 => c.fill("charge failed for card «card» (order «n:order», «o:insufficient funds|do_not_honor|expired_card»)\n"),
            1 => c.fill("synced customer «w:full» <«email»>, tel «phone»\n"),
            2 => c.fill("SEPA mandate created for IBAN «iban» BIC «n:vat»\n"),
            3 => c.fill("retrying in «w:ms»ms, request-id=«n:reqid»\n"),
            4 => c.fill("card on file «n:masked_card» expires «o:04/27|11/26»\n"),
            5 => c.fill("tax id check ok for «n:vat», customer ref «n:order»\n"),
            _ => c.fill("webhook verified with secret=«stripe» for event «n:reqid»\n"),
        }
    }
}

fn python_traceback(c: &mut Ctx) {
    c.fill("Traceback (most recent call last):\n  File \"/app/«w:svc»/db.py\", line «w:num», in connect\n    conn = psycopg2.connect(host=host, user=user, password=password)\n");
    c.some_lines(
        &[
            "  File \"/usr/lib/python3.11/site-packages/psycopg2/__init__.py\", line 122, in connect\n    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)\n",
            "Local variables:\n    host = '«ip»'\n    user = 'app'\n    password = '«password»'\n",
        ],
        1,
    );
    c.fill("psycopg2.OperationalError: connection to server at \"«ip»\", port 5432 failed: FATAL:  password authentication failed for user \"app\"\n");
}

fn java_trace(c: &mut Ctx) {
    c.fill("«o:Exception in thread \"main\" |ERROR »org.springframework.web.client.HttpClientErrorException$Unauthorized: 401 Unauthorized: \"{\"error\":\"invalid_token\",\"error_description\":\"Token expired\"}\"\n");
    c.fill("\tat org.springframework.web.client.DefaultResponseErrorHandler.handleError(DefaultResponseErrorHandler.java:«w:num»)\n\tat com.acme.«w:svc».client.ApiClient.call(ApiClient.java:«w:num»)\n");
    c.some_lines(
        &[
            "Caused by: java.sql.SQLException: Access denied for user 'root'@'«ip»' (using password: YES)\n",
            "\t... «w:num» more\nrequest headers: {Authorization=[Bearer «bearer»], X-Request-Id=[«n:uuid»]}\n",
            "\tat com.acme.«w:svc».Main.main(Main.java:«w:num») ~[app.jar:«n:version»]\n",
        ],
        1,
    );
}

fn ci_log(c: &mut Ctx) {
    c.fill("«o:Run|▶|+» npm publish --access public\n");
    c.some_lines(
        &[
            "npm notice package: @«w:user»/«w:svc»@«w:ver»\nnpm notice shasum: «n:sha»\nnpm notice integrity: «n:sha512»\n",
            "npm ERR! code E401\nnpm ERR! Unable to authenticate, your authentication token seems to be invalid.\nnpm ERR! To correct this please try logging in again with: npm login\n",
            "+ echo \"//registry.npmjs.org/:_authToken=«npm»\" > ~/.npmrc\n",
            "+ twine upload dist/* -u __token__ -p «pypi»\n",
            "+ curl -X POST -H \"Authorization: Bearer «slack»\" https://slack.com/api/chat.postMessage\n",
            "Job succeeded on runner #«w:num» (GR1348941 registration via «n:placeholder»)\n",
            "warning: did the tests «o:pass|fail» on «w:host»? see ticket «n:wrapped»\n",
        ],
        2,
    );
}

fn kubectl_describe(c: &mut Ctx) {
    c.fill("$ kubectl describe secret «w:svc»-creds -n «o:prod|default»\nName:         «w:svc»-creds\nNamespace:    «o:prod|default»\nType:  Opaque\n\nData\n====\npassword:  «w:num» bytes\ntoken:     «w:num» bytes\nca.crt:    1066 bytes\n\n$ kubectl get pods -o wide\nNAME                    READY   STATUS    IP\n«w:svc»-«w:hex8»-x2b   1/1     Running   «ipv4»\n");
}

fn mail_log(c: &mut Ctx) {
    let n = c.rng.range(2, 4);
    for _ in 0..n {
        c.fill("«w:month» «w:day» «w:clock» mx1 postfix/«o:qmgr|smtp|cleanup»[«w:pid»]: «w:hex8»«o:A|B|C»: ");
        match c.rng.below(3) {
            0 => c.fill("from=<«email»>, size=«w:big», nrcpt=1 (queue active)\n"),
            1 => c.fill("to=<«email»>, relay=«w:host»[«ipv4»]:25, delay=0.«w:num», status=sent (250 2.0.0 OK «n:msgid»)\n"),
            _ => c.fill("message-id=«n:msgid»\n"),
        }
    }
}
