//! HTTP and CLI templates: curl -v, raw requests and responses, HAR
//! fragments, API responses, Jupyter and shell transcripts, cloud CLIs,
//! code snippets.

use super::doc::{Ctx, Template};

/// The templates of this family.
pub const TEMPLATES: &[Template] = &[
    curl_verbose,
    raw_oauth,
    har_fragment,
    customer_response,
    jupyter,
    shell_session,
    az_cli,
    gcloud_cli,
    python_code,
    checkout_js,
    gitlab_api,
    webhook_request,
];

fn curl_verbose(c: &mut Ctx) {
    c.fill("$ curl -v https://api.«o:anthropic.com/v1/messages|openai.com/v1/chat/completions|stripe.com/v1/charges»\n*   Trying «ipv4»:443...\n* Connected to api port 443\n> POST /v1/«o:messages|chat/completions|charges» HTTP/2\n> Host: api.example\n> user-agent: curl/8.5.0\n");
    match c.rng.below(6) {
        4 => c.fill("> Authorization: Bearer «jwt»\n"),
        5 => c.fill("> authorization: Bearer «bearer»\n> x-goog-api-key: «google»\n"),
        0 => c.fill("> x-api-key: «anthropic»\n> anthropic-version: 2023-06-01\n"),
        1 => c.fill("> authorization: Bearer «openai»\n> openai-organization: org-«w:hex8»\n"),
        2 => c.fill("> Authorization: Bearer «stripe»\n> Stripe-Version: 2024-06-20\n"),
        _ => c.fill("> Authorization: Bearer «bearer»\n"),
    }
    c.fill("> content-type: application/json\n>\n< HTTP/2 «o:200|401|429»\n< request-id: «n:reqid»\n< cf-ray: «n:reqid»\n<\n{\"id\":\"msg_«w:hex8»\",\"usage\":{\"input_tokens\":«w:num»,\"output_tokens\":«w:num»}}\n");
}

fn raw_oauth(c: &mut Ctx) {
    c.fill("POST /oauth2/«o:token|v2.0/token» HTTP/1.1\nHost: «o:login.microsoftonline.com|oauth2.googleapis.com|auth.acme-corp.com»\nContent-Type: application/x-www-form-urlencoded\nX-Forwarded-For: «ip»\n\n");
    match c.rng.below(3) {
        0 => c.fill("grant_type=client_credentials&client_id=«n:uuid»&client_secret=«entra»&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default\n"),
        1 => c.fill("grant_type=client_credentials&client_id=«n:oauth»&client_secret=«secret»&redirect_uri=https%3A%2F%2Fapp.acme-corp.com%2Fcb\n"),
        _ => c.fill("grant_type=password&username=«w:user»&password=«password_url»&client_id=«w:svc»\n"),
    }
    c.fill("\nHTTP/1.1 200 OK\nContent-Type: application/json\n\n{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"«jwt»\"}\n");
}

fn har_fragment(c: &mut Ctx) {
    c.fill("{\n  \"request\": {\n    \"method\": \"«w:method»\",\n    \"url\": \"https://«w:host»«w:path»\",\n    \"headers\": [\n");
    c.some_lines(
        &[
            "      {\"name\": \"Authorization\", \"value\": \"Bearer «jwt»\"},\n",
            "      {\"name\": \"X-Api-Key\", \"value\": \"«google»\"},\n",
            "      {\"name\": \"Cookie\", \"value\": \"_ga=GA1.2.«w:big».«n:unix»; lang=de\"},\n",
            "      {\"name\": \"X-Request-ID\", \"value\": \"«n:uuid»\"},\n",
            "      {\"name\": \"PRIVATE-TOKEN\", \"value\": \"«gitlab»\"},\n",
            "      {\"name\": \"authorization\", \"value\": \"Bearer «bearer»\"},\n",
        ],
        2,
    );
    c.fill("      {\"name\": \"Accept\", \"value\": \"application/json\"}\n    ]\n  },\n  \"serverIPAddress\": \"«ip»\",\n  \"time\": «w:ms».«w:num»\n}\n");
}

fn customer_response(c: &mut Ctx) {
    c.fill("HTTP/1.1 200 OK\ncontent-type: application/json\nrequest-id: «n:reqid»\n\n{\n  \"id\": \"cus_«w:hex8»\",\n  \"object\": \"customer\",\n");
    c.some_lines(
        &[
            "  \"email\": \"«email»\",\n",
            "  \"phone\": \"«phone»\",\n",
            "  \"name\": \"«w:full»\",\n",
            "  \"invoice_prefix\": \"«w:hex8»\",\n",
            "  \"default_source\": {\"brand\": \"Visa\", \"last4\": \"«w:big»\", \"fingerprint\": \"«w:hex8»«w:hex8»\"},\n",
            "  \"metadata\": {\"iban\": \"«iban»\", \"legacy_id\": \"«n:order»\"},\n",
        ],
        2,
    );
    c.fill("  \"livemode\": «o:true|false»,\n  \"created\": «n:unix»\n}\n");
}

fn jupyter(c: &mut Ctx) {
    c.fill(
        "In [«w:num»]: from «o:openai import OpenAI|anthropic import Anthropic»\n\nIn [«w:num»]: ",
    );
    match c.rng.below(3) {
        0 => c.fill("client = OpenAI(api_key=\"«openai»\")\n"),
        1 => c.fill("client = Anthropic(api_key='«anthropic»')\n"),
        _ => c.fill("os.environ[\"ANTHROPIC_API_KEY\"] = \"«anthropic»\"\n"),
    }
    c.fill("\nIn [«w:num»]: r = client.messages.create(model=\"claude-3-5-sonnet-latest\", max_tokens=1024, messages=msgs)\n\nIn [«w:num»]: r.usage\nOut[«w:num»]: Usage(input_tokens=«w:num», output_tokens=«w:num»)\n\nIn [«w:num»]: r.id\nOut[«w:num»]: 'msg_01«w:hex8»«w:hex8»'\n");
}

fn shell_session(c: &mut Ctx) {
    c.fill("«w:user»@«o:laptop|mbp|devbox»:~/«w:svc»$ ");
    c.some_lines(
        &[
            "export GITLAB_TOKEN=«gitlab»\n$ ",
            "export AWS_ACCESS_KEY_ID=«akid»\n$ export AWS_SECRET_ACCESS_KEY=«aws_secret»\n$ ",
            "aws sts get-caller-identity --query Account --output text\n«n:acct»\n$ ",
            "docker pull «w:svc»@«n:sha256p»\n$ ",
            "ping -c1 «ip»\n$ ",
            "echo $HOME\n/home/«w:user»\n$ ",
            "export PYPI_TOKEN=«pypi»\n$ ",
            "export SLACK_TOKEN=«slack»\n$ ",
            "curl -s -H \"Authorization: Bearer «bearer»\" https://«w:host»/v1/status\n{\"ok\":true}\n$ ",
        ],
        2,
    );
    c.fill("exit\n");
}

fn az_cli(c: &mut Ctx) {
    c.fill("$ az ad app credential reset --id «n:uuid» --append\n{\n  \"appId\": \"«n:uuid»\",\n  \"password\": \"«entra»\",\n  \"tenant\": \"«n:uuid»\"\n}\n");
    c.some_lines(
        &[
            "$ az storage account show-connection-string -n «w:user»store -g rg-«w:svc»\n{\n  \"connectionString\": \"DefaultEndpointsProtocol=https;EndpointSuffix=core.windows.net;AccountName=«w:user»store;AccountKey=«azure_account»\"\n}\n",
            "$ az account show --query id -o tsv\n«n:uuid»\n",
        ],
        1,
    );
}

fn gcloud_cli(c: &mut Ctx) {
    c.fill("$ gcloud iam service-accounts keys create key.json --iam-account=«sa_email»\ncreated key [«n:key_id»] of type [json] as [key.json] for [«sa_email»]\n$ gcloud auth list\n       Credentialed Accounts\nACTIVE  ACCOUNT\n*       «email»\n");
    c.some_lines(
        &[
            "$ gcloud config get-value project\n«w:project»\n",
            "$ gcloud services api-keys get-key-string «n:uuid»\nkeyString: «google»\n",
        ],
        1,
    );
}

fn python_code(c: &mut Ctx) {
    c.fill("# «w:svc»/settings.py\nimport os\n\n");
    c.some_lines(
        &[
            "stripe.api_key = \"«stripe»\"\n",
            "STRIPE_PUBLISHABLE_KEY = \"«n:pk»\"\n",
            "SECRET_KEY = os.environ.get(\"DJANGO_SECRET_KEY\", \"dev-only\")\n",
            "EMAIL_HOST_USER = \"«email»\"\nEMAIL_HOST_PASSWORD = \"«password»\"\n",
            "DATABASES = {\"default\": {\"ENGINE\": \"django.db.backends.postgresql\", \"HOST\": \"«ip»\", \"PASSWORD\": \"«password»\"}}\n",
            "OPENAI_CLIENT = OpenAI(api_key=\"«openai»\")\n",
            "SLACK = WebClient(token=\"«slack»\")\n",
            "MAX_TOKENS = 4096  # «n:token_setting»\n",
        ],
        3,
    );
}

fn checkout_js(c: &mut Ctx) {
    c.fill("<script src=\"https://js.stripe.com/v3/\"></script>\n<script>\n  // checkout.js — «n:sha7»\n  const stripe = Stripe('«n:pk»');\n  const elements = stripe.elements({ locale: '«o:de|fr|es|en»' });\n");
    c.some_lines(
        &[
            "  // TODO remove before release: server key «stripe»\n",
            "  const supportMail = '«email»';\n",
            "  fetch('/api/pay', { headers: { Authorization: `Bearer ${token}` } });\n",
            "  const mapsKey = '«google»';\n",
            "  gtag('config', 'G-«w:hex8»');\n",
        ],
        2,
    );
    c.t("</script>\n");
}

fn gitlab_api(c: &mut Ctx) {
    c.fill("$ curl --header \"PRIVATE-TOKEN: «gitlab»\" \"https://gitlab.com/api/v4/projects/«w:big»/pipelines?per_page=2\"\n[{\"id\":«w:big»,\"sha\":\"«n:sha»\",\"ref\":\"main\",\"status\":\"success\"}]\n");
    c.some_lines(
        &[
            "$ gitlab-runner register --url https://gitlab.com/ --registration-token «gitlab»\nRuntime platform  arch=amd64 os=linux pid=«w:pid» revision=«n:sha7» version=«w:ver»\n",
            "$ git clone https://oauth2:«gitlab»@gitlab.com/«w:user»/«w:svc».git\nCloning into '«w:svc»'...\n",
        ],
        1,
    );
}

fn webhook_request(c: &mut Ctx) {
    c.fill("POST /webhooks/stripe HTTP/1.1\nHost: «w:host»\nStripe-Signature: t=«n:unix»,v1=«n:sha256»\nContent-Type: application/json\n\n{\"id\": \"evt_«w:hex8»\", \"type\": \"charge.succeeded\", \"data\": {\"object\": {\"billing_details\": {\"email\": \"«email»\", \"phone\": \"«phone»\"}, \"payment_method_details\": {\"card\": {\"last4\": \"«w:big»\"}}}}}\n");
}
