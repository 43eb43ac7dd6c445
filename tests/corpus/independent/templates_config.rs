//! Configuration-file templates: .env, Kubernetes and Helm YAML, TOML, INI,
//! Java properties, docker-compose, tfvars, GitHub Actions, .npmrc,
//! .pypirc, appsettings.json, service-account JSON, git and AWS files.

use super::doc::{Ctx, Template};

/// The templates of this family.
pub const TEMPLATES: &[Template] = &[
    dotenv,
    k8s_secret,
    helm_values,
    app_toml,
    my_cnf,
    java_properties,
    compose,
    tfvars,
    gh_actions,
    npmrc,
    pypirc,
    appsettings,
    gcp_service_account,
    git_remote,
    aws_credentials,
    netrc_and_curlrc,
];

fn dotenv(c: &mut Ctx) {
    let header = *c.rng.pick(&[
        "# .env — «w:svc» (do not commit!)\n",
        "# generated «w:date»\n",
        "### local dev ###\n",
        "",
    ]);
    c.fill(header);
    c.some_lines(
        &[
            "APP_ENV=«o:production|staging|dev»\n",
            "APP_URL=https://«w:host»\n",
            "DATABASE_URL=postgres://«o:app|svc_billing|postgres»:«password_url»@«w:host»:5432/«w:svc»\n",
            "DB_PASSWORD=«Q»«password»«Q»\n",
            "REDIS_URL=redis://:«password_url»@«ipv4»:6379/0\n",
            "STRIPE_SECRET_KEY=«stripe»\n",
            "STRIPE_PUBLISHABLE_KEY=«n:pk»\n",
            "NEXT_PUBLIC_STRIPE_KEY=«n:pk»\n",
            "OPENAI_API_KEY=«openai»\n",
            "ANTHROPIC_API_KEY=«Q»«anthropic»«Q»\n",
            "GITHUB_TOKEN=«github»\n",
            "SLACK_BOT_TOKEN=«slack»\n",
            "SLACK_APP_TOKEN=«slack»\n",
            "TWINE_PASSWORD=«pypi»\n",
            "FIREBASE_API_KEY=«google»\n",
            "GOOGLE_MAPS_API_KEY=«google»\n",
            "GOOGLE_CLIENT_ID=«n:oauth»\n",
            "SESSION_SECRET=«secret»\n",
            "AWS_ACCESS_KEY_ID=«akid»\nAWS_SECRET_ACCESS_KEY=«aws_secret»\n",
            "MAIL_FROM=«email»\n",
            "MAX_TOKENS=«o:1024|4096|256»\n",
            "RELEASE=«n:sha»\n",
            "# AWS_ACCOUNT_ID=«n:acct»\n",
            "LOG_LEVEL=«w:lvl»\n",
        ],
        4,
    );
}

fn k8s_secret(c: &mut Ctx) {
    c.fill("apiVersion: v1\nkind: Secret\nmetadata:\n  name: «w:svc»-«o:credentials|secrets|env»\n  namespace: «o:prod|default|payments»\n  annotations:\n    checksum/config: «n:sha256»\ntype: Opaque\nstringData:\n");
    c.some_lines(
        &[
            "  DB_PASSWORD: «Q»«password»«Q»\n",
            "  AZURE_STORAGE_CONNECTION_STRING: \"DefaultEndpointsProtocol=https;AccountName=«w:svc»store;AccountKey=«azure_account»;EndpointSuffix=core.windows.net\"\n",
            "  SERVICEBUS_CONNECTION: Endpoint=sb://«w:svc»-bus.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=«azure_sas»\n",
            "  OPENAI_API_KEY: «openai»\n",
            "  client_secret: «secret»\n",
            "  AWS_ACCESS_KEY_ID: «akid»\n",
            "  NPM_TOKEN: «npm»\n",
            "  SLACK_BOT_TOKEN: «slack»\n",
            "  MAPS_KEY: «google»\n",
            "  AZURE_CLIENT_SECRET: «entra»\n",
            "  AZURE_CLIENT_ID: «n:uuid»\n",
            "  token_ttl: \"3600\"\n",
        ],
        3,
    );
}

fn helm_values(c: &mut Ctx) {
    c.fill("# values-«o:prod|staging».yaml\nimage:\n  repository: registry.gitlab.com/«w:user»/«w:svc»\n  tag: «n:sha7»\n");
    c.some_lines(
        &[
            "postgresql:\n  auth:\n    username: app\n    password: «Q»«password»«Q»\n    postgresPassword: «password»\n",
            "redis:\n  auth:\n    enabled: true\n    password: «password»\n",
            "gitlab-runner:\n  gitlabUrl: https://gitlab.com/\n  runnerRegistrationToken: \"«gitlab»\"\n  concurrent: «w:num»\n",
            "ingress:\n  hosts:\n    - «w:host»\n  annotations:\n    nginx.ingress.kubernetes.io/whitelist-source-range: «ipv4»/32\n",
            "smtp:\n  host: smtp.sendgrid.net\n  user: apikey\n  password: «password»\n  from: «email»\n",
            "sentry:\n  release: «n:version»\n",
            "extraEnv:\n  - name: ANTHROPIC_API_KEY\n    value: «anthropic»\n",
        ],
        2,
    );
}

fn app_toml(c: &mut Ctx) {
    c.fill("# config.toml\ntitle = \"«w:svc»\"\nversion = \"«w:ver»\"\n\n");
    c.some_lines(
        &[
            "[database]\nhost = \"«w:host»\"\nport = «w:port»\nuser = \"«w:user»\"\npassword = \"«password»\"\n\n",
            "[server]\nbind = \"«ip»\"\nworkers = «w:num»\n\n",
            "[smtp]\nserver = \"smtp.«o:gmail.com|office365.com|mailgun.org»\"\nusername = \"«email»\"\nsmtp_password = '«password»'\n\n",
            "[stripe]\nsecret_key = \"«stripe»\"\npublishable_key = \"«n:pk»\"\n\n",
            "[llm]\nprovider = \"anthropic\"\napi_key = \"«anthropic»\"\nmax_tokens = «o:1024|2048»\n\n",
            "[github]\naccess_token = \"«github»\"\nowner = \"«w:user»\"\n\n",
            "[package.metadata]\nchecksum = \"«n:sha256»\"\n\n",
        ],
        2,
    );
}

fn my_cnf(c: &mut Ctx) {
    c.fill("; «o:my.cnf|php.ini|odbc.ini» — «w:host»\n");
    c.some_lines(
        &[
            "[client]\nuser = root\npassword = «password»\nhost = «ip»\nport = 3306\n\n",
            "[mysqldump]\nuser=backup\npassword=\"«password»\"\n\n",
            "[mail function]\nSMTP = «w:host»\nsendmail_from = «email»\n\n",
            "[ODBC]\nDriver=ODBC Driver 18 for SQL Server\nServer=«ip»,1433\nUID=reporting\nPWD=«password»\n\n",
            "[session]\nsession.gc_maxlifetime = 1440\n; ticket «n:wrapped»\n\n",
        ],
        2,
    );
}

fn java_properties(c: &mut Ctx) {
    c.fill("# application-«o:prod|dev|test».properties\n");
    c.some_lines(
        &[
            "spring.datasource.url=jdbc:mysql://«ipv4»:3306/«w:svc»?useSSL=true\n",
            "spring.datasource.username=«w:user»\n",
            "spring.datasource.password=«password»\n",
            "spring.mail.host=smtp.«o:gmail.com|office365.com»\n",
            "spring.mail.username=«email»\n",
            "spring.mail.password=«password»\n",
            "app.jwt.secret=«secret»\n",
            "app.jwt.expiration-ms=86400000\n",
            "aws.accessKeyId=«akid»\n",
            "aws.secretKey=«aws_secret»\n",
            "management.endpoints.web.exposure.include=health,info\n",
            "build.commit=«n:sha»\n",
            "support.phone=«phone»\n",
        ],
        4,
    );
}

fn compose(c: &mut Ctx) {
    c.fill("version: \"3.9\"\nservices:\n  db:\n    image: postgres:«o:15|16».«w:num»\n    environment:\n");
    c.some_lines(
        &[
            "      POSTGRES_PASSWORD: «password»\n",
            "      - MYSQL_ROOT_PASSWORD=«password»\n",
            "      PGADMIN_DEFAULT_EMAIL: «email»\n",
            "      PGADMIN_DEFAULT_PASSWORD: \"«password»\"\n",
        ],
        1,
    );
    c.fill(
        "  «w:svc»:\n    build: .\n    ports:\n      - \"«w:port»:«w:port»\"\n    environment:\n",
    );
    c.some_lines(
        &[
            "      - OPENAI_API_KEY=«openai»\n",
            "      - STRIPE_KEY=«stripe»\n",
            "      - SLACK_WEBHOOK_SECRET=«secret»\n",
            "      - GITLAB_TOKEN=«gitlab»\n",
            "      - SLACK_TOKEN=«slack»\n",
            "      - API_JWT=«jwt»\n",
            "      - MAX_TOKENS=4096\n",
            "      - BIND_ADDR=«ipv4»\n",
        ],
        1,
    );
}

fn tfvars(c: &mut Ctx) {
    c.fill(
        "# terraform.tfvars\nregion         = \"«w:region»\"\naws_account_id = «Q»«n:acct»«Q»\n",
    );
    c.some_lines(
        &[
            "db_password    = \"«password»\"\n",
            "github_token   = \"«github»\"\n",
            "allowed_cidrs  = [\"«ipv4»/32\", \"«ipv4»/32\"]\n",
            "deploy_role    = \"«n:arn»\"\n",
            "datadog_api_key = \"«secret»\"\n",
            "alert_email    = \"«email»\"\n",
            "ami_id         = \"ami-«w:hex8»\"\n",
            "maps_api_key   = \"«google»\"\n",
            "slack_bot_token = \"«slack»\"\n",
            "client_secret  = \"«entra»\"\n",
        ],
        2,
    );
}

fn gh_actions(c: &mut Ctx) {
    c.fill("name: «o:release|deploy|publish»\non:\n  push:\n    branches: [main]\npermissions:\n  id-token: write\njobs:\n  build:\n    runs-on: ubuntu-latest\n    env:\n      NPM_TOKEN: «n:placeholder»\n");
    c.some_lines(
        &[
            "      AWS_ACCESS_KEY_ID: «akid»\n      AWS_SECRET_ACCESS_KEY: «aws_secret»\n",
            "      PYPI_API_TOKEN: «pypi»\n",
            "      ANTHROPIC_API_KEY: «anthropic»\n",
            "      NODE_AUTH_TOKEN: «npm»\n",
        ],
        1,
    );
    c.fill("    steps:\n      - uses: actions/checkout@v4\n      - uses: aws-actions/configure-aws-credentials@v4\n        with:\n          role-to-assume: «n:arn»\n          aws-region: «w:region»\n      - run: npm ci && npm publish\n");
}

fn npmrc(c: &mut Ctx) {
    c.fill("# ~/.npmrc\n");
    c.some_lines(
        &[
            "registry=https://registry.npmjs.org/\n",
            "//registry.npmjs.org/:_authToken=«npm»\n",
            "@«w:user»:registry=https://gitlab.com/api/v4/projects/«w:big»/packages/npm/\n",
            "//gitlab.com/api/v4/projects/«w:big»/packages/npm/:_authToken=«gitlab»\n",
            "email=«email»\n",
            "always-auth=true\n",
            "init-author-name=«w:full»\n",
            "# integrity «n:sha512»\n",
        ],
        3,
    );
}

fn pypirc(c: &mut Ctx) {
    c.fill("[distutils]\nindex-servers =\n    pypi\n    testpypi\n\n[pypi]\nusername = __token__\npassword = «pypi»\n");
    c.some_lines(
        &[
            "\n[testpypi]\nrepository = https://test.pypi.org/legacy/\nusername = __token__\npassword = «pypi»\n",
            "\n[internal]\nrepository = https://«w:host»/simple/\nusername = «w:user»\npassword = «password»\n",
        ],
        0,
    );
}

fn appsettings(c: &mut Ctx) {
    c.fill("{\n  \"Logging\": { \"LogLevel\": { \"Default\": \"Information\" } },\n  \"ConnectionStrings\": {\n");
    c.some_lines(
        &[
            "    \"Sql\": \"Server=tcp:«w:svc».database.windows.net,1433;Initial Catalog=«w:svc»;User ID=app;Password=«password»;Encrypt=True;\",\n",
            "    \"Storage\": \"DefaultEndpointsProtocol=https;AccountName=«w:user»data;AccountKey=«azure_account»;EndpointSuffix=core.windows.net\",\n",
            "    \"ServiceBus\": \"Endpoint=sb://«w:svc».servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=«azure_sas»;EntityPath=orders\",\n",
            "    \"EventHub\": \"Endpoint=sb://«w:svc»-eh.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=«azure_sas»\",\n",
        ],
        1,
    );
    c.fill("    \"Redis\": \"«w:host»:6379\"\n  },\n  \"AzureAd\": {\n    \"Instance\": \"https://login.microsoftonline.com/\",\n    \"TenantId\": \"«n:uuid»\",\n    \"ClientId\": \"«n:uuid»\",\n    \"ClientSecret\": \"«entra»\"\n  }\n}\n");
}

fn gcp_service_account(c: &mut Ctx) {
    let project = super::values::project(&mut c.rng);
    c.fill("«o:$ cat key.json\n|// service-account.json\n|»");
    c.t(&format!("{{\n  \"type\": \"service_account\",\n  \"project_id\": \"{project}\",\n  \"private_key_id\": \""));
    c.fill("«n:key_id»\",\n  \"private_key\": \"«gcp_pem»\\n\",\n  \"client_email\": \"«sa_email»\",\n  \"client_id\": \"«n:client_id»\",\n  \"auth_uri\": \"https://accounts.google.com/o/oauth2/auth\",\n  \"token_uri\": \"https://oauth2.googleapis.com/token\"\n}\n");
}

fn git_remote(c: &mut Ctx) {
    c.fill("$ git remote -v\n");
    if c.rng.chance(50) {
        c.fill("origin\thttps://oauth2:«gitlab»@gitlab.com/«w:user»/«w:svc».git (fetch)\norigin\thttps://oauth2:«gitlab»@gitlab.com/«w:user»/«w:svc».git (push)\n");
    } else {
        c.fill("origin\thttps://«w:user»:«github»@github.com/«w:user»/«w:svc».git (fetch)\nupstream\t«n:git_ssh»:«w:user»/«w:svc».git (fetch)\n");
    }
    c.fill("$ git log -1 --format='%H %an'\n«n:sha» «w:full»\n$ cat ~/.git-credentials\nhttps://«w:user»:«password_url»@git.«o:fabrikam.de|initech.net»\n");
}

fn aws_credentials(c: &mut Ctx) {
    c.fill("# ~/.aws/credentials\n[default]\naws_access_key_id = «akid»\naws_secret_access_key = «aws_secret»\n");
    c.some_lines(
        &[
            "\n[«o:prod|staging|ci»]\naws_access_key_id=«akid»\naws_secret_access_key=«aws_secret»\nregion=«w:region»\n",
            "\n# ~/.aws/config\n[profile admin]\nrole_arn = «n:arn»\nsource_profile = default\n",
            "\n$ aws sts get-caller-identity\n{\n    \"UserId\": \"AIDA«w:hex8»EXAMPLE\",\n    \"Account\": \"«n:acct»\",\n    \"Arn\": \"«n:arn»\"\n}\n",
        ],
        1,
    );
}

fn netrc_and_curlrc(c: &mut Ctx) {
    c.fill("# ~/.netrc\nmachine «w:host»\n  login «w:user»\n  password «password»\nmachine api.heroku.com\n  login «email»\n  password «password»\n");
}
