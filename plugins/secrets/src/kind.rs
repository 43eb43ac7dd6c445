//! The kinds of credential found, and their names in findings.

/// The kinds of credential, most specific first: when findings overlap, the
/// first of their kinds in this order names the merged finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `aws_access_key_id`
    AwsAccessKeyId,
    /// `github_token`
    GithubToken,
    /// `slack_token`
    SlackToken,
    /// `stripe_key`
    StripeKey,
    /// `google_api_key`
    GoogleApiKey,
    /// `anthropic_api_key`
    AnthropicApiKey,
    /// `openai_api_key`
    OpenaiApiKey,
    /// `gitlab_token`
    GitlabToken,
    /// `npm_token`
    NpmToken,
    /// `pypi_token`
    PypiToken,
    /// `azure_key`
    AzureKey,
    /// `aws_secret_access_key`: after the kinds known by their prefix, since
    /// it is known only by its context.
    AwsSecretAccessKey,
    /// `jwt`
    Jwt,
    /// `private_key`
    PrivateKey,
    /// `bearer_token`
    BearerToken,
    /// `password`
    Password,
    /// `secret`
    Secret,
}

impl Kind {
    /// The kind's name in findings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsAccessKeyId => "aws_access_key_id",
            Self::AwsSecretAccessKey => "aws_secret_access_key",
            Self::GithubToken => "github_token",
            Self::SlackToken => "slack_token",
            Self::StripeKey => "stripe_key",
            Self::GoogleApiKey => "google_api_key",
            Self::AnthropicApiKey => "anthropic_api_key",
            Self::OpenaiApiKey => "openai_api_key",
            Self::GitlabToken => "gitlab_token",
            Self::NpmToken => "npm_token",
            Self::PypiToken => "pypi_token",
            Self::AzureKey => "azure_key",
            Self::Jwt => "jwt",
            Self::PrivateKey => "private_key",
            Self::BearerToken => "bearer_token",
            Self::Password => "password",
            Self::Secret => "secret",
        }
    }
}
